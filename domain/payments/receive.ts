/**
 * What a verified payment event does: record it (dedupe and ordering), apply the customer's current
 * payment state, and only once that work is durably queued mark the event handled. If queueing fails the
 * event stays unhandled, so the provider's redelivery applies it again; nothing accepted is lost.
 */
import { JobError } from "../../jobs/errors.ts";
import { type AppliedPaymentState, applyPaymentState, type PaymentDeps } from "./apply.ts";
import type { PaymentEvent } from "./event.ts";
import { markHandled, type RecordedOutcome, recordPaymentEvent } from "./record.ts";

/** `awaiting_customer`: applied, but the customer is not registered yet; `duplicate`: handled before. */
export type PaymentEventOutcome = RecordedOutcome | "awaiting_customer" | "duplicate";

export interface ReceivedPaymentEvent {
  outcome: PaymentEventOutcome;
  /** What the customer's state called for; null when the event changed no subscription. */
  applied: AppliedPaymentState | null;
}

/** The event is recorded but its work could not be queued (broker or database down); it stays unhandled. */
export class PaymentNotAppliedError extends JobError {
  constructor(event: PaymentEvent, cause: unknown) {
    super("payment_not_applied", `${event.provider} event ${event.eventId} recorded but not applied`, {
      cause,
    });
  }
}

export async function receivePaymentEvent(
  deps: PaymentDeps,
  event: PaymentEvent,
): Promise<ReceivedPaymentEvent> {
  const now = deps.now ?? Date.now;
  const intake = recordPaymentEvent(deps.db, event, now());
  if (intake.kind === "duplicate") return { outcome: "duplicate", applied: null };
  if (intake.outcome !== "applied" || event.subscription === null) {
    return { outcome: intake.outcome, applied: null };
  }
  let applied: AppliedPaymentState;
  try {
    applied = await applyPaymentState(deps, event.subscription.customerId);
  } catch (err) {
    throw new PaymentNotAppliedError(event, err);
  }
  const outcome = applied.awaitingCustomer ? "awaiting_customer" : "applied";
  markHandled(deps.db, event, outcome, now());
  return { outcome, applied };
}
