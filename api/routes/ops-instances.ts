/** GET /v1/ops/instances?state=&limit=&cursor= — instances newest first, optionally in one state. */
import { INSTANCE_STATES, listInstances } from "../../domain/ops/instances.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { readListQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsInstancesRoute: Route = {
  method: "GET",
  path: "/v1/ops/instances",
  handle: (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    const query = readListQuery(ctx.url, { name: "state", values: INSTANCE_STATES });
    return Response.json(listInstances(ctx.deps.db, { ...query, state: query.filter }));
  },
};
