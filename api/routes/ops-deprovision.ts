/**
 * POST /v1/ops/instances/{instanceId}/deprovision — `bun run ops deprovision`: tears the instance's server
 * down and shreds its secrets. 202 with the deprovision job (joined when one is under way, `created: false`);
 * 404 unknown instance; 409 `already_deprovisioned`.
 */
import { UnknownInstanceError } from "../../jobs/errors.ts";
import { createRequests } from "../../jobs/requests.ts";
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
    refuseQuery(ctx.request);
    const instanceId = ctx.params.instanceId ?? "";
    const requests = createRequests({ db: ctx.deps.db, queue: ctx.deps.queue });
    try {
      const requested = await requests.requestInstanceDeprovision(instanceId);
      if (requested === null) {
        throw new HttpError(409, "already_deprovisioned", `instance ${instanceId} is already deprovisioned`);
      }
      ctx.log.info({ ...requested }, "operator deprovision");
      return Response.json(requested, { status: 202 });
    } catch (err) {
      if (err instanceof UnknownInstanceError) throw new HttpError(404, "unknown_instance", err.message);
      throw err;
    }
  },
};
