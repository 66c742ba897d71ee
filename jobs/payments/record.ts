/**
 * Recording a verified payment event. Intake is one IMMEDIATE transaction: the event is stored once per
 * provider and event id, and its subscription's state is replaced only by a newer event (creation time,
 * then event id as a deterministic tie-break), so a stale `active` arriving after a `deleted` changes
 * nothing. The event counts as handled only once its work is durably queued (`markHandled`).
 */
import { and, eq } from "drizzle-orm";
import type { Db, DbSession } from "../../db/index.ts";
import { paymentEvents, subscriptions } from "../../db/schema.ts";
import type { PaymentEvent } from "./event.ts";

/**
 * `applied`: the event set its subscription's state (or is the event that set it); `stale`: a newer event
 * already had; `ignored`: a type we do not act on; `no_change`: a subscription status that decides nothing.
 */
export type RecordedOutcome = "applied" | "stale" | "ignored" | "no_change";

/** A redelivery of a handled event is a duplicate; anything else (a redelivery of an unhandled one too) is recorded. */
export type Intake = { kind: "duplicate" } | { kind: "recorded"; outcome: RecordedOutcome };

export function recordPaymentEvent(db: Db, event: PaymentEvent, receivedAt: number): Intake {
  return db.transaction(
    (tx): Intake => {
      const inserted = tx
        .insert(paymentEvents)
        .values({
          provider: event.provider,
          eventId: event.eventId,
          type: event.type,
          customerId: event.subscription?.customerId ?? null,
          subscriptionId: event.subscription?.id ?? null,
          occurredAt: event.occurredAt,
          receivedAt,
          paymentState: event.paymentState,
        })
        .onConflictDoNothing()
        .returning({ eventId: paymentEvents.eventId })
        .all();
      if (inserted.length === 0 && handledAt(tx, event) !== null) return { kind: "duplicate" };
      return { kind: "recorded", outcome: updateSubscription(tx, event, receivedAt) };
    },
    { behavior: "immediate" },
  );
}

/** Marks the event handled with its final outcome: from now on a redelivery is a duplicate. */
export function markHandled(db: Db, event: PaymentEvent, outcome: string, at: number): void {
  db.update(paymentEvents)
    .set({ outcome, handledAt: at })
    .where(and(eq(paymentEvents.provider, event.provider), eq(paymentEvents.eventId, event.eventId)))
    .run();
}

function handledAt(tx: DbSession, event: PaymentEvent): number | null {
  const row = tx
    .select({ handledAt: paymentEvents.handledAt })
    .from(paymentEvents)
    .where(and(eq(paymentEvents.provider, event.provider), eq(paymentEvents.eventId, event.eventId)))
    .get();
  return row?.handledAt ?? null;
}

function updateSubscription(tx: DbSession, event: PaymentEvent, now: number): RecordedOutcome {
  const { subscription, paymentState } = event;
  if (subscription === null) return "ignored";
  if (paymentState === null) return "no_change";
  const where = and(
    eq(subscriptions.provider, event.provider),
    eq(subscriptions.subscriptionId, subscription.id),
  );
  const current = tx
    .select({ eventId: subscriptions.eventId, occurredAt: subscriptions.eventOccurredAt })
    .from(subscriptions)
    .where(where)
    .get();
  if (current !== undefined && isOlder(event, current)) return "stale";
  const state = {
    customerId: subscription.customerId,
    paymentState,
    eventId: event.eventId,
    eventOccurredAt: event.occurredAt,
    updatedAt: now,
  };
  tx.insert(subscriptions)
    .values({ provider: event.provider, subscriptionId: subscription.id, ...state })
    .onConflictDoUpdate({ target: [subscriptions.provider, subscriptions.subscriptionId], set: state })
    .run();
  return "applied";
}

/** Strictly older than the event that set the subscription; that same event (redelivered unhandled) is not. */
function isOlder(event: PaymentEvent, current: { eventId: string; occurredAt: number }): boolean {
  if (event.occurredAt !== current.occurredAt) return event.occurredAt < current.occurredAt;
  return event.eventId < current.eventId;
}
