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
import { SQLiteError } from "bun:sqlite";
import { isDeepStrictEqual } from "node:util";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { createSealer } from "../../core/secrets.ts";
import { customers, type PaymentState } from "../../db/schema.ts";
import {
  type CustomerSecrets,
  CustomerSecretsGoneError,
  type CustomerStore,
  createCustomerStore,
  InvalidCustomerSecretsError,
} from "../../domain/customers.ts";
import { applyPaymentState } from "../../domain/payments/apply.ts";
import { createRequests } from "../../domain/requests.ts";
import {
  type ReconfigureDecision,
  ReconfigureEnqueueError,
  requestReconfigure,
} from "../../jobs/reconfigure/request.ts";
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
  payment: { state: PaymentState | null; operationId: string | null };
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
    let stored: StoredSecrets;
    try {
      stored = register(ctx, customerId, parsed.data);
    } catch (err) {
      if (err instanceof InvalidCustomerSecretsError) return invalidFields(ctx.requestId, err.fields);
      throw err;
    }
    const payment = await applyRecordedPayment(ctx, customerId);
    const decision = await reconfigureAfterRegistration(ctx, customerId);
    if (decision.kind === "busy") return instanceBusy(ctx, customerId, decision);
    const reconfigure =
      decision.kind === "enqueued"
        ? { instanceId: decision.instanceId, operationId: decision.operationId }
        : null;
    ctx.log.info(
      { customerId, created: stored.created, secretsChanged: stored.changed, reconfigure, payment },
      "customer registered",
    );
    const answer: RegistrationAnswer = {
      customerId,
      created: stored.created,
      updatedAt: new Date(stored.updatedAt).toISOString(),
      reconfigure,
      payment,
    };
    return Response.json(answer, { status: stored.created ? 201 : 200 });
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

interface StoredSecrets {
  created: boolean;
  /** False when the request repeated the stored secrets: nothing was written. */
  changed: boolean;
  /** When the stored secrets were written, epoch ms. */
  updatedAt: number;
}

/**
 * Seals and stores the secrets unless they are the stored ones; whether the customer existed is read in
 * the same immediate transaction, so two concurrent first registrations answer one 201 and one 200. A
 * failing database is the error mapper's 503.
 */
function register(ctx: RouteContext, customerId: string, secrets: CustomerSecrets): StoredSecrets {
  const { db, config } = ctx.deps;
  let writtenAt = 0;
  const store = createCustomerStore({ db, sealer: createSealer(config.secretsKeys), now: () => writtenAt });
  return db.transaction(
    (tx) => {
      // Taken under the write lock, so it orders against the start of a reconfigure reading the secrets.
      writtenAt = Date.now();
      const existing = tx
        .select({ updatedAt: customers.updatedAt })
        .from(customers)
        .where(eq(customers.id, customerId))
        .get();
      if (existing !== undefined && isStored(store, customerId, secrets)) {
        return { created: false, changed: false, updatedAt: existing.updatedAt };
      }
      store.upsert(customerId, secrets);
      return { created: existing === undefined, changed: true, updatedAt: writtenAt };
    },
    { behavior: "immediate" },
  );
}

/** An unchanged PUT writes nothing: a new time would count as a change the server has not received. */
function isStored(store: CustomerStore, customerId: string, secrets: CustomerSecrets): boolean {
  try {
    return isDeepStrictEqual(store.open(customerId), secrets);
  } catch (err) {
    if (err instanceof CustomerSecretsGoneError) return false;
    throw err;
  }
}

/** The stored secrets are safe either way; a job queue that does not take the request is a 503 the caller retries. */
async function applyRecordedPayment(
  ctx: RouteContext,
  customerId: string,
): Promise<RegistrationAnswer["payment"]> {
  const requests = createRequests({ db: ctx.deps.db, queue: ctx.deps.queue });
  try {
    const applied = await applyPaymentState({ db: ctx.deps.db, requests }, customerId);
    return { state: applied.state, operationId: applied.request?.operationId ?? null };
  } catch (err) {
    if (err instanceof SQLiteError) throw err;
    ctx.log.error({ err, customerId }, "payment state not applied; the secrets are stored");
    throw new HttpError(
      503,
      "unavailable",
      "the secrets are stored, but the job queue did not take the paid customer's provision: retry this request",
    );
  }
}

/** The stored secrets are safe either way; a broker that does not answer is a 503 the caller retries. */
async function reconfigureAfterRegistration(
  ctx: RouteContext,
  customerId: string,
): Promise<ReconfigureDecision> {
  try {
    return await requestReconfigure(ctx.deps, customerId);
  } catch (err) {
    if (!(err instanceof ReconfigureEnqueueError)) throw err;
    ctx.log.error({ err, customerId }, "reconfigure not enqueued; the secrets are stored");
    throw new HttpError(
      503,
      "unavailable",
      "the secrets are stored, but the job queue did not answer: retry this request to deliver them to the server",
    );
  }
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
