import { z } from "zod";
import type { CallOptions } from "./call-options.ts";
import type { HetznerHttp } from "./http.ts";
import { paginate } from "./pagination.ts";
import { type Datacenter, datacenterSchema, metaSchema } from "./schemas.ts";

const listResponse = z.object({ datacenters: z.array(datacenterSchema), meta: metaSchema });

export function datacentersApi(http: HetznerHttp) {
  return {
    /** GET /datacenters, all pages; `server_types.available` lists the types orderable there right now. */
    listAll: (options: CallOptions = {}): Promise<Datacenter[]> =>
      Array.fromAsync(
        paginate(http, {
          path: "/datacenters",
          query: {},
          schema: listResponse,
          items: (page) => page.datacenters,
          signal: options.signal,
        }),
      ),
  };
}

export type DatacentersApi = ReturnType<typeof datacentersApi>;
