/**
 * What a payment provider's verified webhook means, whatever the provider.
 *
 * Glossary: an *event* is one webhook's content, identified per provider by its event id (a redelivery
 * repeats the id); a *subscription* is the provider's recurring payment, whose state is set by its newest
 * event by creation time; a customer's *payment state* is `paid` while any of their subscriptions is paid,
 * else `cancelled`.
 */
import type { z } from "zod";
import type { PaymentState } from "../../db/schema.ts";

export const paymentProviders = ["standard", "stripe"] as const;
export type PaymentProvider = (typeof paymentProviders)[number];

export interface PaymentEvent {
  provider: PaymentProvider;
  /** Unique per provider; a redelivery carries the same id. */
  eventId: string;
  /** The provider's event type, e.g. `subscription.active` or `customer.subscription.updated`. */
  type: string;
  /** When the provider created the event, epoch ms: a subscription's events apply in this order. */
  occurredAt: number;
  /** The subscription and customer the event is about; null for an event type that is acknowledged and ignored. */
  subscription: { id: string; customerId: string } | null;
  /** The state the event asks for; null when it changes nothing (ignored type, or a status like past_due). */
  paymentState: PaymentState | null;
}

/** One provider's signature check and payload parsing, built once per secret. */
export interface WebhookVerifier {
  /**
   * Checks the signature headers are present (before any crypto), verifies the raw body against them and
   * parses it; throws WebhookRejectedError.
   */
  verify(rawBody: string, headers: Headers): Promise<PaymentEvent>;
}

/** Why a webhook is refused before anything is recorded; the route maps each code to its HTTP status. */
export type WebhookRejection = "missing_headers" | "invalid_signature" | "malformed_json" | "invalid_fields";

/** A webhook refused before anything is recorded. `fields` names what is missing, never a value or a secret. */
export class WebhookRejectedError extends Error {
  override readonly name = "WebhookRejectedError";
  constructor(
    readonly code: WebhookRejection,
    message: string,
    readonly fields: readonly string[] = [],
  ) {
    super(message);
  }
}

/** The fields a known event type lacks, as one 422-worthy rejection. */
export function invalidFields(fields: readonly string[]): WebhookRejectedError {
  return new WebhookRejectedError(
    "invalid_fields",
    `invalid or missing fields: ${fields.join(", ")}`,
    fields,
  );
}

/** The 422 for a payload schema's issues, naming each dotted field path once. */
export function invalidFieldsOf(error: z.ZodError): WebhookRejectedError {
  return invalidFields([...new Set(error.issues.map((issue) => issue.path.join(".")))]);
}

/** Throws `missing_headers` naming each required header the request lacks (or sends empty). */
export function requireHeaders(headers: Headers, required: readonly string[]): void {
  const missing = required.filter((name) => (headers.get(name) ?? "") === "");
  if (missing.length > 0) {
    throw new WebhookRejectedError("missing_headers", `missing headers: ${missing.join(", ")}`, missing);
  }
}
