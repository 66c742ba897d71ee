/** GET /v1/ops/bundles — the app bundles on disk, which is current per architecture, and who runs each. */
import { listBundles } from "../../domain/ops/bundles.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsBundlesRoute: Route = {
  method: "GET",
  path: "/v1/ops/bundles",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    return Response.json(await listBundles(ctx.deps.bundles, ctx.deps.db));
  },
};
