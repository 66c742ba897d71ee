/**
 * GET /v1/ops/instances/{instanceId} — one instance for `bun run ops instance`: its customer, Hetzner ids,
 * addresses, every operation with its steps and attempts, and a timeline. Never a secret.
 */
import { instanceDetail } from "../../domain/ops/instance-detail.ts";
import { HttpError } from "../http-error.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsInstanceRoute: Route = {
  method: "GET",
  path: "/v1/ops/instances/:instanceId",
  handle: (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const instanceId = ctx.params.instanceId ?? "";
    const detail = instanceDetail(ctx.deps.db, instanceId);
    if (detail === undefined) throw new HttpError(404, "unknown_instance", `no instance ${instanceId}`);
    return Response.json(detail);
  },
};
