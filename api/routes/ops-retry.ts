/**
 * POST /v1/ops/retry/{id} — `bun run ops retry`: `id` is an instance id (its newest operation) or a job id.
 * A failed operation runs again from its failed step, as the same operation, so a provision never makes a
 * second server. 202 with what runs; 404 unknown id; 409 `nothing_to_retry` when it succeeded or was replaced;
 * 503 `unavailable` when the broker does not take the job (the re-run is recorded: asking again re-adds it).
 */
import {
  NothingToRetryError,
  RetryNotQueuedError,
  retryOperation,
  UnknownRetryTargetError,
} from "../../domain/ops/retry.ts";
import { HttpError } from "../http-error.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsRetryRoute: Route = {
  method: "POST",
  path: "/v1/ops/retry/:id",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    try {
      const outcome = await retryOperation(ctx.deps.db, ctx.deps.queue, ctx.params.id ?? "");
      ctx.log.info({ ...outcome }, "operator retry");
      return Response.json(outcome, { status: 202 });
    } catch (err) {
      if (err instanceof UnknownRetryTargetError) throw new HttpError(404, "not_found", err.message);
      if (err instanceof NothingToRetryError) throw new HttpError(409, err.code, err.message);
      if (err instanceof RetryNotQueuedError) {
        ctx.log.error({ err }, "operator retry not queued");
        throw new HttpError(503, "unavailable", `${err.message}: try again`);
      }
      throw err;
    }
  },
};
