/**
 * POST /v1/ops/instances/{instanceId}/deprovision — `bun run ops deprovision`: tears the instance's server
 * down and shreds its secrets. 202 with the deprovision job (joined when one is under way, `created: false`);
 * 404 unknown instance; 409 `already_deprovisioned`; 503 `unavailable` when the broker does not take the job.
 */

import { UnknownInstanceError } from "../../jobs/errors.ts";
import { HttpError } from "../http-error.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsDeprovisionRoute: Route = {
  method: "POST",
  path: "/v1/ops/instances/:instanceId/deprovision",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const instanceId = ctx.params.instanceId ?? "";
    const requested = await ctx.deps.requests.requestInstanceDeprovision(instanceId).catch((err: unknown) => {
      if (err instanceof UnknownInstanceError) throw new HttpError(404, "unknown_instance", err.message);
      // The deprovision is recorded before its job is added, so asking again re-adds it.
      ctx.log.error({ err, instanceId }, "operator deprovision not queued");
      throw new HttpError(503, "unavailable", `the deprovision of ${instanceId} was not queued: try again`);
    });
    if (requested === null) {
      throw new HttpError(409, "already_deprovisioned", `instance ${instanceId} is already deprovisioned`);
    }
    ctx.log.info({ ...requested }, "operator deprovision");
    return Response.json(requested, { status: 202 });
  },
};
