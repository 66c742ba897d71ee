/**
 * Stripe webhooks: `Stripe-Signature: t=<seconds>,v1=<hex>[,v1=<hex>…]` (several v1 entries while a secret
 * rotates), checked by the `stripe` package's async verifier (the only one that works under Bun) with
 * constant-time comparison and a 300 s tolerance. Events `customer.subscription.created|updated|deleted`;
 * the customer is ours, read from the subscription's `metadata.customer_id`.
 */
import Stripe from "stripe";
import { z } from "zod";
import type { PaymentState } from "../../db/schema.ts";
import {
  invalidFieldsOf,
  type PaymentEvent,
  requireHeaders,
  WebhookRejectedError,
  type WebhookVerifier,
} from "./event.ts";

const SIGNATURE_HEADERS = ["stripe-signature"] as const;
/** Stripe's own default, in seconds: the same 5 minutes as Standard Webhooks. */
const TOLERANCE_SECONDS = 300;
/** The subscription metadata key our checkout sets to our customer id. */
export const STRIPE_CUSTOMER_ID_METADATA_KEY = "customer_id";

const SUBSCRIPTION_TYPES: ReadonlySet<string> = new Set([
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
]);

/**
 * Statuses that decide the server. past_due, incomplete and paused are not listed: Stripe is still
 * retrying or awaiting a payment, so the server stays as it is until the status settles. A Map, not an
 * object: `status` is the sender's, and "constructor" must not read through the prototype.
 */
const STATE_OF_STATUS: ReadonlyMap<string, PaymentState> = new Map([
  ["active", "paid"],
  ["trialing", "paid"],
  ["canceled", "cancelled"],
  ["unpaid", "cancelled"],
  ["incomplete_expired", "cancelled"],
]);

const eventSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  created: z.number().int().positive(),
});

const subscriptionEventSchema = z.object({
  data: z.object({
    object: z.object({
      id: z.string().min(1),
      status: z.string().min(1),
      metadata: z.object({ [STRIPE_CUSTOMER_ID_METADATA_KEY]: z.string().min(1) }),
    }),
  }),
});

/** A verifier for one Stripe endpoint secret (`whsec_…`). */
export function stripeWebhookVerifier(secret: string): WebhookVerifier {
  // WebCrypto-backed and stateless: the verifier's one provider serves all its requests.
  const cryptoProvider = Stripe.createSubtleCryptoProvider();
  return {
    async verify(rawBody, headers) {
      requireHeaders(headers, SIGNATURE_HEADERS);
      const header = headers.get("stripe-signature") ?? "";
      let body: unknown;
      try {
        body = await Stripe.webhooks.constructEventAsync(
          rawBody,
          header,
          secret,
          TOLERANCE_SECONDS,
          cryptoProvider,
        );
      } catch (err) {
        throw rejectionOf(err);
      }
      refuseFutureTimestamp(header);
      return parseStripeEvent(body);
    },
  };
}

/**
 * The library refuses only timestamps too far in the past; one too far ahead is a replay kept for later
 * (or a skewed clock) and is refused the same way, as Standard Webhooks' library does.
 */
function refuseFutureTimestamp(header: string): void {
  // Read as the library reads it (its signed value): the last `t=` item, parseInt'ed.
  const item = header
    .split(",")
    .findLast((entry) => entry.split("=")[0] === "t")
    ?.split("=")[1];
  const signedAt = Number.parseInt(item ?? "", 10);
  if (signedAt > Date.now() / 1000 + TOLERANCE_SECONDS) {
    throw new WebhookRejectedError("invalid_signature", signatureMessage("tolerance"));
  }
}

/** The library parses the body only once the signature holds, so a SyntaxError means a verified non-JSON body. */
function rejectionOf(err: unknown): unknown {
  if (err instanceof SyntaxError) return new WebhookRejectedError("malformed_json", "body must be JSON");
  if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
    return new WebhookRejectedError("invalid_signature", signatureMessage(err.message));
  }
  return err;
}

/** The library's reasons carry no secret but paragraphs of advice; these say the same in a line. */
function signatureMessage(reason: string): string {
  if (/tolerance/i.test(reason)) return "Stripe-Signature timestamp is outside the 5-minute tolerance";
  if (/timestamp|expected scheme/i.test(reason)) return "Stripe-Signature must be t=<seconds>,v1=<signature>";
  return "no v1 signature in Stripe-Signature matches the body";
}

function parseStripeEvent(body: unknown): PaymentEvent {
  const event = eventSchema.safeParse(body);
  if (!event.success) throw invalidFieldsOf(event.error);
  const { id: eventId, type, created } = event.data;
  const occurredAt = created * 1000;
  if (!SUBSCRIPTION_TYPES.has(type)) {
    return { provider: "stripe", eventId, type, occurredAt, subscription: null, paymentState: null };
  }
  const parsed = subscriptionEventSchema.safeParse(body);
  if (!parsed.success) throw invalidFieldsOf(parsed.error);
  const subscription = parsed.data.data.object;
  // A deleted subscription is over whatever its last status said.
  const paymentState =
    type === "customer.subscription.deleted"
      ? "cancelled"
      : (STATE_OF_STATUS.get(subscription.status) ?? null);
  return {
    provider: "stripe",
    eventId,
    type,
    occurredAt,
    subscription: { id: subscription.id, customerId: subscription.metadata[STRIPE_CUSTOMER_ID_METADATA_KEY] },
    paymentState,
  };
}
