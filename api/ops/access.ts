/** Operator access to /v1/ops/…: the bearer token OPS_TOKEN, compared in constant time. */
import { presentsBearerToken, unauthorized } from "../bearer-token.ts";
import { HttpError } from "../http-error.ts";
import type { RouteContext } from "../router.ts";

/**
 * The 401 answer when the caller lacks the ops token, undefined when it may go on. Throws 503
 * `not_configured` while OPS_TOKEN is unset, so an unconfigured API never looks like a wrong token.
 */
export function refuseNonOperator(ctx: RouteContext): Response | undefined {
  const opsToken = ctx.deps.config.opsToken;
  if (opsToken === undefined) {
    throw new HttpError(503, "not_configured", "operator access is off: OPS_TOKEN is not set");
  }
  return presentsBearerToken(ctx.request, opsToken) ? undefined : unauthorized(ctx.requestId);
}
