/** The payment tables' queries, prepared once per database connection: intake runs them for every webhook. */
import { and, eq, lte, sql } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { preparedPerConnection } from "../../db/prepared.ts";
import { paymentApplicationClaims, paymentEvents, subscriptions } from "../../db/schema.ts";

const p = sql.placeholder;
const eventKey = and(eq(paymentEvents.provider, p("provider")), eq(paymentEvents.eventId, p("eventId")));

function prepare(db: Db) {
  return {
    /** Returns the event id when inserted, nothing when the (provider, eventId) row exists. */
    insertEvent: db
      .insert(paymentEvents)
      .values({
        provider: p("provider"),
        eventId: p("eventId"),
        type: p("type"),
        customerId: p("customerId"),
        subscriptionId: p("subscriptionId"),
        occurredAt: p("occurredAt"),
        receivedAt: p("receivedAt"),
        paymentState: p("paymentState"),
      })
      .onConflictDoNothing()
      .returning({ eventId: paymentEvents.eventId })
      .prepare(),
    eventHandledAt: db
      .select({ handledAt: paymentEvents.handledAt })
      .from(paymentEvents)
      .where(eventKey)
      .prepare(),
    markHandled: db
      .update(paymentEvents)
      .set({ outcome: sql`${p("outcome")}`, handledAt: sql`${p("handledAt")}` })
      .where(eventKey)
      .prepare(),
    subscriptionVersion: db
      .select({ eventId: subscriptions.eventId, occurredAt: subscriptions.eventOccurredAt })
      .from(subscriptions)
      .where(
        and(eq(subscriptions.provider, p("provider")), eq(subscriptions.subscriptionId, p("subscriptionId"))),
      )
      .prepare(),
    upsertSubscription: db
      .insert(subscriptions)
      .values({
        provider: p("provider"),
        subscriptionId: p("subscriptionId"),
        customerId: p("customerId"),
        paymentState: p("paymentState"),
        eventId: p("eventId"),
        eventOccurredAt: p("occurredAt"),
        updatedAt: p("updatedAt"),
      })
      .onConflictDoUpdate({
        target: [subscriptions.provider, subscriptions.subscriptionId],
        set: {
          customerId: sql`excluded.customer_id`,
          paymentState: sql`excluded.payment_state`,
          eventId: sql`excluded.event_id`,
          eventOccurredAt: sql`excluded.event_occurred_at`,
          updatedAt: sql`excluded.updated_at`,
        },
      })
      .prepare(),
    customerStates: db
      .select({ paymentState: subscriptions.paymentState })
      .from(subscriptions)
      .where(eq(subscriptions.customerId, p("customerId")))
      .prepare(),
    /** Returns the holder when the customer's claim was free or expired, nothing while another holds it. */
    claimApplication: db
      .insert(paymentApplicationClaims)
      .values({ customerId: p("customerId"), holder: p("holder"), expiresAt: p("expiresAt") })
      .onConflictDoUpdate({
        target: paymentApplicationClaims.customerId,
        set: { holder: sql`excluded.holder`, expiresAt: sql`excluded.expires_at` },
        setWhere: lte(paymentApplicationClaims.expiresAt, p("now")),
      })
      .returning({ holder: paymentApplicationClaims.holder })
      .prepare(),
    releaseApplication: db
      .delete(paymentApplicationClaims)
      .where(
        and(
          eq(paymentApplicationClaims.customerId, p("customerId")),
          eq(paymentApplicationClaims.holder, p("holder")),
        ),
      )
      .prepare(),
  };
}

export type PaymentStatements = ReturnType<typeof prepare>;

export const paymentStatements = preparedPerConnection(prepare);
