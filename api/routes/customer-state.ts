/**
 * GET /v1/customers/{customerId} — the onboarding service reads what to tell the customer: setting up,
 * waiting for capacity (with their place), ready, or failed (a class and words for them; never our
 * internal message). Service-to-service: `Authorization: Bearer <SERVICE_TOKEN>`.
 */
import { customerState } from "../../domain/customer-state.ts";
import { presentsBearerToken, unauthorized } from "../bearer-token.ts";
import { HttpError } from "../http-error.ts";
import type { Route } from "../router.ts";

export const customerStateRoute: Route = {
  method: "GET",
  path: "/v1/customers/:customerId",
  handle: (ctx) => {
    const serviceToken = ctx.deps.config.serviceToken;
    if (serviceToken === undefined) {
      throw new HttpError(503, "not_configured", "customer reads are off: SERVICE_TOKEN is not set");
    }
    if (!presentsBearerToken(ctx.request, serviceToken)) return unauthorized(ctx.requestId);
    const customerId = ctx.params.customerId ?? "";
    const state = customerState(ctx.deps.db, customerId);
    if (state === null) throw new HttpError(404, "not_found", `customer ${customerId} is not registered`);
    return Response.json(state);
  },
};
