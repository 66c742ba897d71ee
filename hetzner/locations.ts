import { z } from "zod";
import type { CallOptions } from "./call-options.ts";
import type { HetznerHttp } from "./http.ts";
import { paginate } from "./pagination.ts";
import { type Location, locationSchema, metaSchema } from "./schemas.ts";

const listResponse = z.object({ locations: z.array(locationSchema), meta: metaSchema });

export function locationsApi(http: HetznerHttp) {
  return {
    /** GET /locations, all pages. */
    listAll: (options: CallOptions = {}): Promise<Location[]> =>
      Array.fromAsync(
        paginate(http, {
          path: "/locations",
          query: {},
          schema: listResponse,
          items: (page) => page.locations,
          signal: options.signal,
        }),
      ),
  };
}

export type LocationsApi = ReturnType<typeof locationsApi>;
