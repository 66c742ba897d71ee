/**
 * Recording a verified payment event. Intake is one IMMEDIATE transaction: the event is stored once per
 * provider and event id, and its subscription's state is replaced only by a newer event (creation time,
 * then event id as a deterministic tie-break), so a stale `active` arriving after a `deleted` changes
 * nothing. An event with nothing to apply is handled in that same transaction; one that changed its
 * subscription counts as handled only once its work is durably queued (`markHandled`).
 */
import type { Db } from "../../db/index.ts";
import type { PaymentEvent } from "./event.ts";
import { type PaymentStatements, paymentStatements } from "./statements.ts";

/**
 * `applied`: the event set its subscription's state (or is the event that set it); `stale`: a newer event
 * already had; `ignored`: a type we do not act on; `no_change`: a subscription status that decides nothing.
 */
export type RecordedOutcome = "applied" | "stale" | "ignored" | "no_change";

/**
 * A redelivery of a handled event is a duplicate; anything else (a redelivery of an unhandled one too) is
 * recorded, and handled already unless its outcome is `applied`.
 */
export type Intake = { kind: "duplicate" } | { kind: "recorded"; outcome: RecordedOutcome };

export function recordPaymentEvent(db: Db, event: PaymentEvent, receivedAt: number): Intake {
  const statements = paymentStatements(db);
  const key = { provider: event.provider, eventId: event.eventId };
  return db.transaction(
    (): Intake => {
      const inserted = statements.insertEvent.all({
        ...key,
        type: event.type,
        customerId: event.subscription?.customerId ?? null,
        subscriptionId: event.subscription?.id ?? null,
        occurredAt: event.occurredAt,
        receivedAt,
        paymentState: event.paymentState,
      });
      if (inserted.length === 0 && (statements.eventHandledAt.get(key)?.handledAt ?? null) !== null) {
        return { kind: "duplicate" };
      }
      const outcome = updateSubscription(statements, event, receivedAt);
      if (outcome !== "applied") statements.markHandled.run({ ...key, outcome, handledAt: receivedAt });
      return { kind: "recorded", outcome };
    },
    { behavior: "immediate" },
  );
}

/** Marks the event handled with its final outcome: from now on a redelivery is a duplicate. */
export function markHandled(db: Db, event: PaymentEvent, outcome: string, at: number): void {
  paymentStatements(db).markHandled.run({
    provider: event.provider,
    eventId: event.eventId,
    outcome,
    handledAt: at,
  });
}

function updateSubscription(
  statements: PaymentStatements,
  event: PaymentEvent,
  now: number,
): RecordedOutcome {
  const { subscription, paymentState } = event;
  if (subscription === null) return "ignored";
  if (paymentState === null) return "no_change";
  const key = { provider: event.provider, subscriptionId: subscription.id };
  const current = statements.subscriptionVersion.get(key);
  if (current !== undefined && isOlder(event, current)) return "stale";
  statements.upsertSubscription.run({
    ...key,
    customerId: subscription.customerId,
    paymentState,
    eventId: event.eventId,
    occurredAt: event.occurredAt,
    updatedAt: now,
  });
  return "applied";
}

/** Strictly older than the event that set the subscription; that same event (redelivered unhandled) is not. */
function isOlder(event: PaymentEvent, current: { eventId: string; occurredAt: number }): boolean {
  if (event.occurredAt !== current.occurredAt) return event.occurredAt < current.occurredAt;
  return event.eventId < current.eventId;
}
