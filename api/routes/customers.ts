/**
 * PUT /v1/customers/{customerId} — the onboarding service registers a customer's secrets (Telegram bot
 * token, owner id, Claude OAuth credentials), or replaces them. Service-to-service: `Authorization: Bearer
 * <SERVICE_TOKEN>`. The secrets are checked with the deployed app's own rules (through the customer store)
 * so a bad value is a field-level 422 here, not a crash-looping server later; they are sealed at rest, and
 * neither the answer nor any log line carries them. Replaced secrets of a customer whose server runs are
 * delivered to it by a `reconfigure` job (jobs/reconfigure/); when that cannot be enqueued now the answer
 * is a 503 and the secrets stay stored, so the caller's retry of this idempotent request finishes the job.
 * Payment events that arrived before the customer registered are acted on here: a paid customer's
 * provision (or a cancelled one's deprovision) is requested by every PUT, idempotently.
 */
import { z } from "zod";
import { PaymentNotRequestedError, type Registration } from "../../domain/customer-registration.ts";
import { InvalidCustomerSecretsError } from "../../domain/customers.ts";
import { type ReconfigureDecision, ReconfigureEnqueueError } from "../../jobs/reconfigure/request.ts";
import { presentsBearerToken, unauthorized } from "../bearer-token.ts";
import { readJson } from "../body.ts";
import type { ErrorBody } from "../error-mapper.ts";
import { HttpError } from "../http-error.ts";
import type { Route, RouteContext } from "../router.ts";

/** A registration is a few hundred bytes; the limit only stops a caller from making us buffer megabytes. */
const MAX_BODY_BYTES = 16 * 1024;

/** Shapes and types only; the values are judged by the store with Rachel8's rules. Also `bun run smoke --customer`. */
export const registrationSchema = z.strictObject({
  telegramBotToken: z.string(),
  ownerTelegramUserId: z.number(),
  claude: z.strictObject({
    accessToken: z.string(),
    refreshToken: z.string(),
    expiresAt: z.number(),
    scopes: z.array(z.string()),
  }),
});

/** What the caller gets back: never a secret. */
export interface RegistrationAnswer {
  customerId: string;
  /** True when this request created the customer (201), false when it replaced their secrets (200). */
  created: boolean;
  /** When the secrets were stored, ISO 8601 (an unchanged PUT keeps the earlier time). */
  updatedAt: string;
  /** The reconfigure that brings the stored secrets to the customer's running server; null when none is needed. */
  reconfigure: { instanceId: string; operationId: string } | null;
  /** The payment state the webhooks recorded (null when none yet) and the provision or deprovision it started or joined. */
  payment: Registration["payment"];
}

/** Seconds a caller waits before retrying while an operation on the instance is finishing. */
const BUSY_RETRY_AFTER_SECONDS = 5;

export const customersRoute: Route = {
  method: "PUT",
  path: "/v1/customers/:customerId",
  handle: async (ctx) => {
    const serviceToken = ctx.deps.config.serviceToken;
    if (serviceToken === undefined) {
      throw new HttpError(503, "not_configured", "customer registration is off: SERVICE_TOKEN is not set");
    }
    if (!presentsBearerToken(ctx.request, serviceToken)) return unauthorized(ctx.requestId);
    const parsed = registrationSchema.safeParse(await readJson(ctx.request, MAX_BODY_BYTES));
    if (!parsed.success) return invalidFields(ctx.requestId, fieldsOf(parsed.error));
    const customerId = ctx.params.customerId ?? "";
    let registered: Registration;
    try {
      registered = await ctx.deps.registrations.register(customerId, parsed.data);
    } catch (err) {
      return registrationFailure(ctx, customerId, err);
    }
    const { created, changed, updatedAt, payment, reconfigure: decision } = registered;
    if (decision.kind === "busy") return instanceBusy(ctx, customerId, decision);
    const reconfigure =
      decision.kind === "enqueued"
        ? { instanceId: decision.instanceId, operationId: decision.operationId }
        : null;
    ctx.log.info(
      { customerId, created, secretsChanged: changed, reconfigure, payment },
      "customer registered",
    );
    const answer: RegistrationAnswer = {
      customerId,
      created,
      updatedAt: new Date(updatedAt).toISOString(),
      reconfigure,
      payment,
    };
    return Response.json(answer, { status: created ? 201 : 200 });
  },
};

/** Dotted field paths (array positions dropped, as the store names them); unknown keys are named too. */
function fieldsOf(error: z.ZodError): string[] {
  const fields = error.issues.flatMap((issue) => {
    const path = issue.path.filter((segment) => typeof segment === "string");
    const names = issue.code === "unrecognized_keys" ? issue.keys.map((key) => [...path, key]) : [path];
    return names.map((name) => (name.length === 0 ? "(body)" : name.join(".")));
  });
  return [...new Set(fields)];
}

/** 422 naming every bad field; the values are never echoed. */
function invalidFields(requestId: string, fields: readonly string[]): Response {
  const body: ErrorBody = {
    code: "invalid_fields",
    message: `invalid fields: ${fields.join(", ")}`,
    requestId,
  };
  return Response.json({ ...body, fields }, { status: 422 });
}

/**
 * 422 for secrets that fail Rachel8's rules (nothing stored); 503 when the job queue did not take a
 * follow-up (the secrets are stored, so the caller's retry finishes it); anything else to the error mapper.
 */
function registrationFailure(ctx: RouteContext, customerId: string, err: unknown): Response {
  if (err instanceof InvalidCustomerSecretsError) return invalidFields(ctx.requestId, err.fields);
  if (err instanceof PaymentNotRequestedError) {
    ctx.log.error({ err, customerId }, "payment state not applied; the secrets are stored");
    throw new HttpError(
      503,
      "unavailable",
      "the secrets are stored, but the job queue did not take the paid customer's provision: retry this request",
    );
  }
  if (err instanceof ReconfigureEnqueueError) {
    ctx.log.error({ err, customerId }, "reconfigure not enqueued; the secrets are stored");
    throw new HttpError(
      503,
      "unavailable",
      "the secrets are stored, but the job queue did not answer: retry this request to deliver them to the server",
    );
  }
  throw err;
}

/** 503 with Retry-After: the operation running on the instance read the previous secrets; a retry follows it up. */
function instanceBusy(
  ctx: RouteContext,
  customerId: string,
  busy: Extract<ReconfigureDecision, { kind: "busy" }>,
): Response {
  ctx.log.warn({ customerId, instanceId: busy.instanceId, operationId: busy.operationId }, "instance busy");
  const body: ErrorBody = {
    code: "instance_busy",
    message: `the secrets are stored; ${busy.operationId} is still running on the server with the previous ones: retry this request once it has ended to deliver them`,
    requestId: ctx.requestId,
  };
  return Response.json(body, { status: 503, headers: { "retry-after": String(BUSY_RETRY_AFTER_SECONDS) } });
}
