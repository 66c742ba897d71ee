/**
 * PUT /v1/customers/{customerId} — the onboarding service registers a customer's secrets (Telegram bot
 * token, owner id, Claude OAuth credentials), or replaces them. Service-to-service: `Authorization: Bearer
 * <SERVICE_TOKEN>`. The secrets are checked with the deployed app's own rules (through the customer store)
 * so a bad value is a field-level 422 here, not a crash-looping server later; they are sealed at rest, and
 * neither the answer nor any log line carries them.
 *
 * Not yet: re-injecting changed secrets into a customer's ready server (the `reconfigure` job).
 */
import { eq } from "drizzle-orm";
import { z } from "zod";
import { createSealer } from "../../core/secrets.ts";
import { customers } from "../../db/schema.ts";
import {
  type CustomerSecrets,
  createCustomerStore,
  InvalidCustomerSecretsError,
} from "../../jobs/customers.ts";
import { presentsBearerToken, unauthorized } from "../bearer-token.ts";
import { readJson } from "../body.ts";
import type { ErrorBody } from "../error-mapper.ts";
import { HttpError } from "../http-error.ts";
import type { Route, RouteContext } from "../router.ts";

/** A registration is a few hundred bytes; the limit only stops a caller from making us buffer megabytes. */
const MAX_BODY_BYTES = 16 * 1024;

/** Shapes and types only; the values are judged by the store with Rachel8's rules. */
const registrationSchema = z.strictObject({
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
  /** When the secrets were stored, ISO 8601. */
  updatedAt: string;
}

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
    try {
      const answer = register(ctx, customerId, parsed.data);
      ctx.log.info({ customerId, created: answer.created }, "customer registered");
      return Response.json(answer, { status: answer.created ? 201 : 200 });
    } catch (err) {
      if (err instanceof InvalidCustomerSecretsError) return invalidFields(ctx.requestId, err.fields);
      throw err;
    }
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
 * Seals and stores the secrets; whether the customer existed is read in the same immediate transaction,
 * so two concurrent first registrations answer one 201 and one 200. A failing database is the error
 * mapper's 503.
 */
function register(ctx: RouteContext, customerId: string, secrets: CustomerSecrets): RegistrationAnswer {
  const { db, config } = ctx.deps;
  const updatedAt = Date.now();
  const store = createCustomerStore({ db, sealer: createSealer(config.secretsKeys), now: () => updatedAt });
  const created = db.transaction(
    (tx) => {
      const existing = tx
        .select({ id: customers.id })
        .from(customers)
        .where(eq(customers.id, customerId))
        .get();
      store.upsert(customerId, secrets);
      return existing === undefined;
    },
    { behavior: "immediate" },
  );
  return { customerId, created, updatedAt: new Date(updatedAt).toISOString() };
}
