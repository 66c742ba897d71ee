/**
 * POST /v1/webhooks/{provider} — payment webhooks from `standard` (Standard Webhooks, as Polar sends them)
 * or `stripe`. The raw body is verified with the provider's own library before anything is parsed; the
 * answer comes only once the event's work is durably queued or its decision recorded, so a 2xx never
 * stands for work that may be lost: 200 `{status}` with the outcome, `duplicate` for a redelivery.
 * Neither the body nor a signature header is ever logged.
 */
import type { Config } from "../../core/config.ts";
import type { Counter } from "../../core/metrics.ts";
import type { PaymentDeps } from "../../domain/payments/apply.ts";
import {
  type PaymentProvider,
  paymentProviders,
  WebhookRejectedError,
  type WebhookRejection,
  type WebhookVerifier,
} from "../../domain/payments/event.ts";
import {
  PaymentNotAppliedError,
  type ReceivedPaymentEvent,
  receivePaymentEvent,
} from "../../domain/payments/receive.ts";
import { standardWebhookVerifier } from "../../domain/payments/standard.ts";
import { stripeWebhookVerifier } from "../../domain/payments/stripe.ts";
import { errorCodeOf } from "../../jobs/errors.ts";
import { readBody } from "../body.ts";
import type { ApiDependencies } from "../dependencies.ts";
import type { ErrorBody } from "../error-mapper.ts";
import { HttpError } from "../http-error.ts";
import type { Route, RouteContext } from "../router.ts";

/** Subscription events are a few KB; Stripe's largest events stay well under this. */
const MAX_BODY_BYTES = 256 * 1024;

const PROVIDERS: Readonly<
  Record<
    PaymentProvider,
    {
      variable: string;
      secret(config: Config): string | undefined;
      verifier(secret: string): WebhookVerifier;
    }
  >
> = {
  standard: {
    variable: "STANDARD_WEBHOOK_SECRET",
    secret: (config) => config.standardWebhookSecret,
    verifier: standardWebhookVerifier,
  },
  stripe: {
    variable: "STRIPE_WEBHOOK_SECRET",
    secret: (config) => config.stripeWebhookSecret,
    verifier: stripeWebhookVerifier,
  },
};

const STATUS_OF_REJECTION: Readonly<Record<WebhookRejection, number>> = {
  missing_headers: 400,
  malformed_json: 400,
  invalid_signature: 401,
  invalid_fields: 422,
};

/** What the webhook route uses, built once at server start (api/dependencies.ts): verifiers, counter, payments. */
export interface PaymentWebhooks {
  /** The provider's verifier; an HttpError 503 when its secret is not configured. */
  verifierOf(provider: PaymentProvider): WebhookVerifier;
  outcomes: Counter<"provider" | "outcome">;
  payments: PaymentDeps;
}

export function createPaymentWebhooks(
  deps: Pick<ApiDependencies, "config" | "metrics"> & { payments: PaymentDeps },
): PaymentWebhooks {
  // Keys are decoded once, at start, not per request.
  const verifiers: ReadonlyMap<PaymentProvider, WebhookVerifier> = new Map(
    paymentProviders.flatMap((provider) => {
      const secret = PROVIDERS[provider].secret(deps.config);
      return secret === undefined ? [] : [[provider, PROVIDERS[provider].verifier(secret)] as const];
    }),
  );
  return {
    verifierOf(provider) {
      const verifier = verifiers.get(provider);
      if (verifier !== undefined) return verifier;
      const { variable } = PROVIDERS[provider];
      throw new HttpError(503, "not_configured", `${provider} webhooks are off: ${variable} is not set`);
    },
    outcomes: deps.metrics.counter({
      name: "payment_webhooks_total",
      help: "Payment webhooks by provider and outcome (an event outcome, or the error code of a refusal).",
      labelNames: ["provider", "outcome"],
    }),
    payments: deps.payments,
  };
}

export const webhooksRoute: Route = {
  method: "POST",
  path: "/v1/webhooks/:provider",
  handle: async (ctx) => {
    const provider = providerOf(ctx.params.provider ?? "");
    const { webhooks } = ctx.deps;
    const verifier = webhooks.verifierOf(provider);
    try {
      const received = await receive(ctx, provider, verifier);
      webhooks.outcomes.inc({ provider, outcome: received.outcome });
      return Response.json({ status: received.outcome });
    } catch (err) {
      webhooks.outcomes.inc({ provider, outcome: outcomeOfError(err) });
      return failureResponse(ctx, provider, err);
    }
  },
};

/** Verifies, records and applies one webhook, and logs it in one line without its body or signature. */
async function receive(
  ctx: RouteContext,
  provider: PaymentProvider,
  verifier: WebhookVerifier,
): Promise<ReceivedPaymentEvent> {
  const rawBody = (await readBody(ctx.request, MAX_BODY_BYTES)).toString("utf8");
  const event = await verifier.verify(rawBody, ctx.request.headers);
  const received = await receivePaymentEvent(ctx.deps.webhooks.payments, event);
  ctx.log.info(
    {
      provider,
      eventId: event.eventId,
      type: event.type,
      customerId: event.subscription?.customerId ?? null,
      outcome: received.outcome,
      operationId: received.applied?.request?.operationId ?? null,
    },
    "payment webhook",
  );
  return received;
}

function providerOf(name: string): PaymentProvider {
  const provider = paymentProviders.find((known) => known === name);
  if (provider === undefined) {
    throw new HttpError(
      404,
      "unknown_provider",
      `unknown provider; use one of: ${paymentProviders.join(", ")}`,
    );
  }
  return provider;
}

function outcomeOfError(err: unknown): string {
  if (err instanceof WebhookRejectedError || err instanceof HttpError) return err.code;
  if (err instanceof PaymentNotAppliedError) return "unavailable";
  return errorCodeOf(err);
}

/**
 * Rejections answer with their own status; a failed enqueue becomes a 503 the provider retries; anything
 * else (413, a database failure) goes on to the error mapper.
 */
function failureResponse(ctx: RouteContext, provider: PaymentProvider, err: unknown): Response {
  if (err instanceof PaymentNotAppliedError) {
    ctx.log.error({ provider, err }, "payment webhook not applied");
    throw new HttpError(503, "unavailable", "the event is recorded but its work could not be queued; retry");
  }
  if (!(err instanceof WebhookRejectedError)) throw err;
  ctx.log.warn({ provider, code: err.code }, "payment webhook refused");
  const body: ErrorBody = { code: err.code, message: err.message, requestId: ctx.requestId };
  const named = err.code === "missing_headers" ? { headers: err.fields } : { fields: err.fields };
  return Response.json(err.fields.length > 0 ? { ...body, ...named } : body, {
    status: STATUS_OF_REJECTION[err.code],
  });
}
