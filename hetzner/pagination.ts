import type { z } from "zod";
import type { HetznerHttp, QueryValue } from "./http.ts";
import type { metaSchema } from "./schemas.ts";

/** Hetzner's largest page; fewer pages means fewer requests against the shared budget. */
const perPage = 50;

export interface PageRequest<P extends { meta: z.infer<typeof metaSchema> }, T> {
  path: string;
  query: Record<string, QueryValue>;
  schema: z.ZodType<P>;
  items: (page: P) => T[];
  signal: AbortSignal | undefined;
}

/** Yields every item of a paginated list, fetching page after page until `next_page` is null. */
export async function* paginate<P extends { meta: z.infer<typeof metaSchema> }, T>(
  http: HetznerHttp,
  request: PageRequest<P, T>,
): AsyncGenerator<T> {
  let page: number | null = 1;
  while (page !== null) {
    const body: P = await http({
      method: "GET",
      path: request.path,
      query: { ...request.query, page, per_page: perPage },
      schema: request.schema,
      signal: request.signal,
    });
    yield* request.items(body);
    page = body.meta.pagination.next_page;
  }
}
