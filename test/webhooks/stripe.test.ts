import { describe, expect, test } from "bun:test";
import { applyPaymentState } from "../../domain/payments/apply.ts";
import {
  customerMaker,
  type Delivery,
  expiredDate,
  minutesAgo,
  newWebhookSecret,
  type StripeEventOptions,
  signStripe,
  stripePayload,
  webhookWorldForFile,
  withApiServer,
} from "../../harness/webhooks/world.ts";

const world = webhookWorldForFile();
const secret = () => world.current.config.stripeWebhookSecret ?? "";

/** A registered (unless told otherwise) customer and a subscription of theirs, fresh per test. */
const customer = customerMaker(world, "stripe");
const post = (delivery: Delivery) => world.current.post("stripe", delivery);
const deliver = async (options: StripeEventOptions) =>
  post(await signStripe(stripePayload(options), [secret()]));
const operationNames = (customerId: string) =>
  world.current.operationsOf(customerId).map((op) => op.operation);

describe("POST /v1/webhooks/stripe", () => {
  test("created with status active provisions: 200 applied, one operation and job, event recorded by event.id", async () => {
    const { customerId, subscriptionId } = customer();
    const body = stripePayload({ customerId, subscriptionId, id: "evt_valid_1" });
    const delivery = await signStripe(body, [secret()]);
    const logStart = world.current.logText.length;
    expect(await post(delivery)).toMatchObject({ status: 200, body: { status: "applied" } });
    const ops = world.current.operationsOf(customerId);
    expect(ops.map((op) => op.operation)).toEqual(["provision"]);
    expect(await world.current.brokerJobIds()).toContain(ops[0]?.id ?? "");
    expect(world.current.eventRow("stripe", "evt_valid_1")).toMatchObject({
      type: "customer.subscription.created",
      customerId,
      subscriptionId,
      paymentState: "paid",
      outcome: "applied",
    });
    const logs = world.current.logText.slice(logStart).join("");
    expect(logs).toContain('"eventId":"evt_valid_1"');
    for (const value of [secret(), delivery.headers["stripe-signature"] ?? ""])
      expect(logs).not.toContain(value);
  });

  test("statuses: trialing provisions, past_due changes nothing, unpaid and deleted deprovision", async () => {
    const trial = customer();
    expect((await deliver({ ...trial, status: "trialing" })).body).toEqual({ status: "applied" });
    expect(operationNames(trial.customerId)).toEqual(["provision"]);

    const late = customer();
    expect((await deliver({ ...late, occurredAt: minutesAgo(2) })).body).toEqual({ status: "applied" });
    const pastDue = await deliver({ ...late, type: "customer.subscription.updated", status: "past_due" });
    expect(pastDue.body).toEqual({ status: "no_change" });
    expect(operationNames(late.customerId)).toEqual(["provision"]);
    const unpaid = await deliver({ ...late, type: "customer.subscription.updated", status: "unpaid" });
    expect(unpaid.body).toEqual({ status: "applied" });
    expect(operationNames(late.customerId)).toEqual(["provision", "deprovision"]);

    const gone = customer();
    expect((await deliver({ ...gone, occurredAt: minutesAgo(2) })).body).toEqual({ status: "applied" });
    // Deleted is the end whatever status it carries.
    expect((await deliver({ ...gone, type: "customer.subscription.deleted" })).body).toEqual({
      status: "applied",
    });
    expect(operationNames(gone.customerId)).toEqual(["provision", "deprovision"]);
  });

  test("a tampered body or a wrong secret: 401, nothing recorded", async () => {
    const { customerId, subscriptionId } = customer();
    const signed = await signStripe(stripePayload({ customerId, subscriptionId, id: "evt_forged" }), [
      secret(),
    ]);
    const forgeries: Delivery[] = [
      { ...signed, body: signed.body.replace('"active"', '"trialing"') },
      await signStripe(signed.body, [newWebhookSecret()]),
      { ...signed, headers: { "stripe-signature": "garbage" } },
    ];
    for (const forged of forgeries) {
      const answer = await post(forged);
      expect(answer).toMatchObject({ status: 401, body: { code: "invalid_signature" } });
      expect(answer.text).not.toContain(secret());
    }
    expect(world.current.eventRow("stripe", "evt_forged")).toBeUndefined();
    expect(world.current.operationsOf(customerId)).toEqual([]);
  });

  test("expired (signed 6 min ago) or 6 min in the future: 401 naming the tolerance, nothing recorded", async () => {
    const { customerId, subscriptionId } = customer();
    const body = stripePayload({ customerId, subscriptionId, id: "evt_out_of_tolerance" });
    for (const signedAt of [expiredDate(), new Date(Date.now() + 6 * 60_000)]) {
      const answer = await post(await signStripe(body, [secret()], { signedAt }));
      expect(answer).toMatchObject({ status: 401, body: { code: "invalid_signature" } });
      expect(String(answer.body.message)).toContain("5-minute tolerance");
    }
    expect(world.current.eventRow("stripe", "evt_out_of_tolerance")).toBeUndefined();
    expect(world.current.operationsOf(customerId)).toEqual([]);
    const withinTolerance = await signStripe(body, [secret()], { signedAt: new Date(Date.now() + 60_000) });
    expect((await post(withinTolerance)).body).toEqual({ status: "applied" });
  });

  test("a status named like an Object.prototype member changes nothing, like past_due: 200, no 500", async () => {
    for (const status of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
      const { customerId, subscriptionId } = customer();
      const answer = await deliver({
        customerId,
        subscriptionId,
        status,
        type: "customer.subscription.updated",
      });
      expect(answer).toMatchObject({ status: 200, body: { status: "no_change" } });
      expect(operationNames(customerId)).toEqual([]);
    }
  });

  test("a replayed event id is a no-op 200 duplicate, even re-signed later: one operation, one job", async () => {
    const { customerId, subscriptionId } = customer();
    const body = stripePayload({ customerId, subscriptionId, id: "evt_replayed" });
    expect((await post(await signStripe(body, [secret()]))).body).toEqual({ status: "applied" });
    const replays = await Promise.all([1, 2, 3].map(async () => post(await signStripe(body, [secret()]))));
    for (const replay of replays)
      expect(replay).toMatchObject({ status: 200, body: { status: "duplicate" } });
    const ops = world.current.operationsOf(customerId);
    expect(ops).toHaveLength(1);
    expect((await world.current.brokerJobIds()).filter((id) => id === ops[0]?.id)).toHaveLength(1);
  });

  test("secret rotation: several v1= entries, one valid, is accepted; none valid is 401", async () => {
    const { customerId, subscriptionId } = customer();
    const body = stripePayload({ customerId, subscriptionId });
    const rotated = await signStripe(body, [newWebhookSecret(), secret()]);
    expect(rotated.headers["stripe-signature"]?.match(/v1=/g)).toHaveLength(2);
    expect(await post(rotated)).toMatchObject({ status: 200, body: { status: "applied" } });
    expect((await post(await signStripe(body, [newWebhookSecret(), newWebhookSecret()]))).status).toBe(401);
  });

  test("out of order: deleted, then a stale created and updated active, resurrects nothing", async () => {
    const { customerId, subscriptionId } = customer();
    expect((await deliver({ customerId, subscriptionId, occurredAt: minutesAgo(30) })).body).toEqual({
      status: "applied",
    });
    const deleted = { customerId, subscriptionId, type: "customer.subscription.deleted", status: "canceled" };
    expect((await deliver({ ...deleted, occurredAt: minutesAgo(10) })).body).toEqual({ status: "applied" });
    const staleCreated = await deliver({ customerId, subscriptionId, occurredAt: minutesAgo(20) });
    const staleUpdated = await deliver({
      customerId,
      subscriptionId,
      type: "customer.subscription.updated",
      occurredAt: minutesAgo(15),
    });
    expect([staleCreated.body, staleUpdated.body]).toEqual([{ status: "stale" }, { status: "stale" }]);
    expect(operationNames(customerId)).toEqual(["provision", "deprovision"]);
  });

  test("an unknown event type is acknowledged and ignored, and recorded so its redelivery is a duplicate", async () => {
    const body = JSON.stringify({
      id: "evt_invoice_1",
      type: "invoice.paid",
      created: 1_790_000_000,
      data: {},
    });
    expect(await post(await signStripe(body, [secret()]))).toMatchObject({
      status: 200,
      body: { status: "ignored" },
    });
    expect(world.current.eventRow("stripe", "evt_invoice_1")).toMatchObject({ outcome: "ignored" });
    expect((await post(await signStripe(body, [secret()]))).body).toEqual({ status: "duplicate" });
  });

  test("an unregistered customer's subscription is kept and acted on once they register", async () => {
    const { customerId, subscriptionId } = customer(false);
    expect((await deliver({ customerId, subscriptionId })).body).toEqual({ status: "awaiting_customer" });
    expect(world.current.operationsOf(customerId)).toEqual([]);
    world.current.register(customerId);
    const applied = await applyPaymentState(world.current.paymentDeps, customerId);
    expect(applied).toMatchObject({ state: "paid", request: { created: true } });
    expect(operationNames(customerId)).toEqual(["provision"]);
  });

  test("400 malformed_json for a signed non-JSON body; 400 missing_headers without Stripe-Signature", async () => {
    expect(await post(await signStripe("{not json", [secret()]))).toMatchObject({
      status: 400,
      body: { code: "malformed_json" },
    });
    const { customerId, subscriptionId } = customer();
    const answer = await post({ body: stripePayload({ customerId, subscriptionId }), headers: {} });
    expect(answer).toMatchObject({
      status: 400,
      body: { code: "missing_headers", headers: ["stripe-signature"] },
    });
  });

  test("422 invalid_fields when a subscription event lacks metadata.customer_id or its id", async () => {
    const body = JSON.stringify({
      id: "evt_no_customer",
      type: "customer.subscription.created",
      created: Math.floor(Date.now() / 1000),
      data: { object: { status: "active", metadata: {} } },
    });
    const answer = await post(await signStripe(body, [secret()]));
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({
      code: "invalid_fields",
      fields: ["data.object.id", "data.object.metadata.customer_id"],
    });
    expect(world.current.eventRow("stripe", "evt_no_customer")).toBeUndefined();
  });

  test("413 too_large over 256 KiB; 503 not_configured while STRIPE_WEBHOOK_SECRET is unset", async () => {
    const big = JSON.stringify({ id: "evt_big", padding: "x".repeat(300 * 1024) });
    expect(await post(await signStripe(big, [secret()]))).toMatchObject({
      status: 413,
      body: { code: "too_large" },
    });
    await withApiServer(world.current, { stripeWebhookSecret: undefined }, async (url) => {
      const answer = await world.current.post("stripe", await signStripe("{}", [secret()]), url);
      expect(answer).toMatchObject({ status: 503, body: { code: "not_configured" } });
    });
  });
});
