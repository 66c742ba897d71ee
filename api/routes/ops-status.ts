/**
 * GET /v1/ops/status — the fleet at a glance for `bun run ops status`: instances by state, jobs by status,
 * failed jobs, servers used / limit per Hetzner project and the waiting line, the broker's queue depths (null with the reason when the broker does not answer in time,
 * so the rest is still shown), the newest fleet rollout, the last reconcile sweep and the backups, with their warnings.
 */

import { statusReport } from "../../domain/ops/status.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsStatusRoute: Route = {
  method: "GET",
  path: "/v1/ops/status",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    return Response.json(await statusReport(ctx.deps.status, ctx.log));
  },
};
