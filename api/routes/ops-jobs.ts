/** GET /v1/ops/jobs?status=&limit=&cursor= — jobs (operations) in one status, default failed, latest change first. */
import { operationStatuses } from "../../db/schema.ts";
import { listJobs } from "../../domain/ops/jobs.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { readListQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsJobsRoute: Route = {
  method: "GET",
  path: "/v1/ops/jobs",
  handle: (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    const query = readListQuery(ctx.url, { name: "status", values: operationStatuses });
    return Response.json(listJobs(ctx.deps.db, { ...query, status: query.filter ?? "failed" }));
  },
};
