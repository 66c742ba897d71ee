import { z } from "zod";
import type { CallOptions } from "./call-options.ts";
import type { HetznerHttp } from "./http.ts";
import { paginate } from "./pagination.ts";
import { metaSchema } from "./schemas.ts";

/** A price as Hetzner gives it: decimal strings in EUR, without and with VAT. */
const priceSchema = z.object({ net: z.string(), gross: z.string() });

/** components.schemas.server_type, the fields we read. */
export const serverTypeSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  cores: z.number(),
  memory: z.number(),
  disk: z.number(),
  prices: z.array(z.object({ location: z.string(), price_hourly: priceSchema, price_monthly: priceSchema })),
});
export type ServerType = z.infer<typeof serverTypeSchema>;

const listResponse = z.object({ server_types: z.array(serverTypeSchema), meta: metaSchema });

export function serverTypesApi(http: HetznerHttp) {
  return {
    /** GET /server_types?name=…; null when no type has that name. */
    async getByName(name: string, options: CallOptions = {}): Promise<ServerType | null> {
      const found = await Array.fromAsync(
        paginate(http, {
          path: "/server_types",
          query: { name },
          schema: listResponse,
          items: (page) => page.server_types,
          signal: options.signal,
        }),
      );
      return found[0] ?? null;
    },
  };
}

export type ServerTypesApi = ReturnType<typeof serverTypesApi>;
