/**
 * Standard Webhooks (standardwebhooks.com; Polar and others send them): headers `webhook-id` (the event id),
 * `webhook-timestamp` and `webhook-signature`, an HMAC-SHA256 of `id.timestamp.body` under the `whsec_`
 * secret, several space-separated signatures during a secret rotation. The `standardwebhooks` package
 * checks them (constant-time comparison, 5-minute timestamp tolerance).
 *
 * Our payload: `{"type": "subscription.active" | "subscription.canceled" | "subscription.revoked",
 * "timestamp": ISO 8601 creation time, "data": {"id": subscription id, "customer_id": our customer id}}`.
 */
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { z } from "zod";
import type { PaymentState } from "../../db/schema.ts";
import {
  invalidFields,
  invalidFieldsOf,
  type PaymentEvent,
  requireHeaders,
  WebhookRejectedError,
  type WebhookVerifier,
} from "./event.ts";

const SIGNATURE_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature"] as const;

/** A Map, not an object: `type` is the sender's, and "constructor" must not read through the prototype. */
const STATE_OF_TYPE: ReadonlyMap<string, PaymentState> = new Map([
  ["subscription.active", "paid"],
  ["subscription.canceled", "cancelled"],
  ["subscription.revoked", "cancelled"],
]);

const subscriptionEventSchema = z.object({
  timestamp: z.iso.datetime({ offset: true }),
  data: z.object({ id: z.string().min(1), customer_id: z.string().min(1) }),
});

/** A verifier for one `whsec_` secret; the key is decoded once, not per request. */
export function standardWebhookVerifier(secret: string): WebhookVerifier {
  const webhook = new Webhook(secret);
  return {
    async verify(rawBody, headers) {
      requireHeaders(headers, SIGNATURE_HEADERS);
      const signed = Object.fromEntries(SIGNATURE_HEADERS.map((name) => [name, headers.get(name) ?? ""]));
      try {
        webhook.verify(rawBody, signed, { jsonParse: false });
      } catch (err) {
        if (err instanceof WebhookVerificationError) throw signatureRejected(err.message);
        throw err;
      }
      // Parsed as the library parsed it when checking the tolerance.
      const signedAt = Number.parseInt(signed["webhook-timestamp"] ?? "", 10) * 1000;
      return parseStandardEvent(signed["webhook-id"] ?? "", signedAt, parseVerifiedJson(rawBody));
    },
  };
}

/** The library's reasons carry no secret; only the timestamp ones are worth telling apart. */
function signatureRejected(reason: string): WebhookRejectedError {
  const message = /timestamp/i.test(reason)
    ? "webhook-timestamp is missing, malformed or outside the 5-minute tolerance"
    : "no signature in webhook-signature matches the body";
  return new WebhookRejectedError("invalid_signature", message);
}

function parseVerifiedJson(rawBody: string): unknown {
  try {
    return JSON.parse(rawBody);
  } catch (err) {
    if (err instanceof SyntaxError) throw new WebhookRejectedError("malformed_json", "body must be JSON");
    throw err;
  }
}

/** An unknown type is dated by its signed timestamp, since only our own types promise a `timestamp` field. */
function parseStandardEvent(eventId: string, signedAt: number, body: unknown): PaymentEvent {
  const type = (body as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || type === "") throw invalidFields(["type"]);
  const paymentState = STATE_OF_TYPE.get(type);
  if (paymentState === undefined) {
    return {
      provider: "standard",
      eventId,
      type,
      occurredAt: signedAt,
      subscription: null,
      paymentState: null,
    };
  }
  const parsed = subscriptionEventSchema.safeParse(body);
  if (!parsed.success) throw invalidFieldsOf(parsed.error);
  const { timestamp, data } = parsed.data;
  return {
    provider: "standard",
    eventId,
    type,
    occurredAt: Date.parse(timestamp),
    subscription: { id: data.id, customerId: data.customer_id },
    paymentState,
  };
}
