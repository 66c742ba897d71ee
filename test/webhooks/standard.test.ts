import { describe, expect, test } from "bun:test";
import {
  customerMaker,
  type Delivery,
  expiredDate,
  minutesAgo,
  newWebhookSecret,
  signStandard,
  standardPayload,
  webhookWorldForFile,
  withApiServer,
} from "../../harness/webhooks/world.ts";

const world = webhookWorldForFile();
const secret = () => world.current.config.standardWebhookSecret ?? "";

/** A registered (unless told otherwise) customer and a subscription of theirs, fresh per test. */
const customer = customerMaker(world, "std");
const post = (delivery: Delivery) => world.current.post("standard", delivery);

describe("POST /v1/webhooks/standard", () => {
  test("a valid subscription.active provisions: 200 applied, one operation, one broker job, event handled", async () => {
    const { customerId, subscriptionId } = customer();
    const delivery = signStandard(standardPayload({ customerId, subscriptionId }), [secret()]);
    const logStart = world.current.logText.length;
    const answer = await post(delivery);
    expect(answer).toMatchObject({ status: 200, body: { status: "applied" } });
    const ops = world.current.operationsOf(customerId);
    expect(ops.map((op) => op.operation)).toEqual(["provision"]);
    expect(await world.current.brokerJobIds()).toContain(ops[0]?.id ?? "");
    const row = world.current.eventRow("standard", delivery.headers["webhook-id"] ?? "");
    expect(row).toMatchObject({
      type: "subscription.active",
      customerId,
      paymentState: "paid",
      outcome: "applied",
    });
    expect(row?.handledAt).toBeNumber();
    const logs = world.current.logText.slice(logStart).join("");
    expect(logs).toContain('"msg":"payment webhook"');
    for (const value of [secret(), delivery.headers["webhook-signature"] ?? "", delivery.body]) {
      expect(logs).not.toContain(value);
    }
  });

  test("a tampered body, a wrong secret, or a signature of another id: 401, nothing recorded", async () => {
    const { customerId, subscriptionId } = customer();
    const signed = signStandard(standardPayload({ customerId, subscriptionId }), [secret()]);
    const forgeries: Delivery[] = [
      { ...signed, body: signed.body.replace("subscription.active", "subscription.revoked") },
      signStandard(signed.body, [newWebhookSecret()]),
      { ...signed, headers: { ...signed.headers, "webhook-id": "msg_other" } },
      { ...signed, headers: { ...signed.headers, "webhook-signature": "v1,AAAA" } },
    ];
    for (const forged of forgeries) {
      const answer = await post(forged);
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({
        code: "invalid_signature",
        message: "no signature in webhook-signature matches the body",
        requestId: expect.any(String),
      });
      expect(answer.text).not.toContain(secret());
    }
    expect(world.current.eventRow("standard", signed.headers["webhook-id"] ?? "")).toBeUndefined();
    expect(world.current.operationsOf(customerId)).toEqual([]);
  });

  test("expired (6 min old) or too far in the future: 401 naming the tolerance", async () => {
    const { customerId, subscriptionId } = customer();
    const body = standardPayload({ customerId, subscriptionId });
    for (const signedAt of [expiredDate(), new Date(Date.now() + 6 * 60_000)]) {
      const answer = await post(signStandard(body, [secret()], { signedAt }));
      expect(answer).toMatchObject({ status: 401, body: { code: "invalid_signature" } });
      expect(String(answer.body.message)).toContain("5-minute tolerance");
    }
    expect(world.current.operationsOf(customerId)).toEqual([]);
  });

  test("a replay of the same webhook-id is a no-op 200 duplicate: still one operation and one job", async () => {
    const { customerId, subscriptionId } = customer();
    const delivery = signStandard(standardPayload({ customerId, subscriptionId }), [secret()]);
    expect((await post(delivery)).body).toEqual({ status: "applied" });
    const replays = await Promise.all([post(delivery), post(delivery), post(delivery)]);
    for (const replay of replays)
      expect(replay).toMatchObject({ status: 200, body: { status: "duplicate" } });
    const ops = world.current.operationsOf(customerId);
    expect(ops).toHaveLength(1);
    const jobs = await world.current.brokerJobIds();
    expect(jobs.filter((id) => id === ops[0]?.id)).toHaveLength(1);
  });

  test("secret rotation: several space-separated signatures, one valid, is accepted", async () => {
    const { customerId, subscriptionId } = customer();
    const body = standardPayload({ customerId, subscriptionId });
    const rotated = signStandard(body, [newWebhookSecret(), secret(), newWebhookSecret()]);
    expect(await post(rotated)).toMatchObject({ status: 200, body: { status: "applied" } });
    const onlyOld = signStandard(body, [newWebhookSecret(), newWebhookSecret()]);
    expect((await post(onlyOld)).status).toBe(401);
  });

  test("out of order: a stale active after canceled is recorded stale; no provision follows the deprovision", async () => {
    const { customerId, subscriptionId } = customer();
    const at = (minutes: number, type: string) =>
      signStandard(standardPayload({ customerId, subscriptionId, type, occurredAt: minutesAgo(minutes) }), [
        secret(),
      ]);
    expect((await post(at(30, "subscription.active"))).body).toEqual({ status: "applied" });
    expect((await post(at(10, "subscription.canceled"))).body).toEqual({ status: "applied" });
    const stale = at(20, "subscription.active");
    expect((await post(stale)).body).toEqual({ status: "stale" });
    expect(world.current.operationsOf(customerId).map((op) => op.operation)).toEqual([
      "provision",
      "deprovision",
    ]);
    expect(world.current.eventRow("standard", stale.headers["webhook-id"] ?? "")).toMatchObject({
      outcome: "stale",
      paymentState: "paid",
    });
  });

  test("out of order from the start: revoked first, then an older active, creates no server at all", async () => {
    const { customerId, subscriptionId } = customer();
    const revoked = standardPayload({ customerId, subscriptionId, type: "subscription.revoked" });
    const older = standardPayload({ customerId, subscriptionId, occurredAt: minutesAgo(1) });
    expect((await post(signStandard(revoked, [secret()]))).body).toEqual({ status: "applied" });
    expect((await post(signStandard(older, [secret()]))).body).toEqual({ status: "stale" });
    expect(world.current.operationsOf(customerId)).toEqual([]);
  });

  test("an unknown event type is acknowledged, recorded and ignored; its redelivery is a duplicate", async () => {
    const body = JSON.stringify({ type: "checkout.created", data: { anything: true } });
    const delivery = signStandard(body, [secret()]);
    expect(await post(delivery)).toMatchObject({ status: 200, body: { status: "ignored" } });
    expect(world.current.eventRow("standard", delivery.headers["webhook-id"] ?? "")).toMatchObject({
      type: "checkout.created",
      paymentState: null,
      outcome: "ignored",
    });
    expect((await post(delivery)).body).toEqual({ status: "duplicate" });
  });

  test("a type named like an Object.prototype member is an unknown type: 200 ignored, no 500", async () => {
    const { customerId, subscriptionId } = customer();
    for (const type of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
      const delivery = signStandard(standardPayload({ type, customerId, subscriptionId }), [secret()]);
      expect(await post(delivery)).toMatchObject({ status: 200, body: { status: "ignored" } });
      expect(world.current.eventRow("standard", delivery.headers["webhook-id"] ?? "")).toMatchObject({
        type,
        outcome: "ignored",
      });
    }
    expect(world.current.operationsOf(customerId)).toEqual([]);
  });

  test("an unregistered customer's payment is kept and acted on once they register", async () => {
    const { customerId, subscriptionId } = customer(false);
    const delivery = signStandard(standardPayload({ customerId, subscriptionId }), [secret()]);
    expect(await post(delivery)).toMatchObject({ status: 200, body: { status: "awaiting_customer" } });
    expect(world.current.operationsOf(customerId)).toEqual([]);
    const registered = await world.current.registerViaApi(customerId);
    expect(registered).toMatchObject({ status: 201, body: { payment: { state: "paid" } } });
    const operationId = String((registered.body.payment as { operationId: unknown }).operationId);
    expect(world.current.operationsOf(customerId).map((op) => op.id)).toEqual([operationId]);
    expect(await world.current.brokerJobIds()).toContain(operationId);
    // Registering again (the onboarding service retrying) joins the same provision.
    expect(await world.current.registerViaApi(customerId)).toMatchObject({
      status: 200,
      body: { payment: { state: "paid", operationId } },
    });
    expect(world.current.operationsOf(customerId)).toHaveLength(1);
    expect((await post(delivery)).body).toEqual({ status: "duplicate" });
  });

  test("400 malformed_json for a signed body that is not JSON; nothing recorded", async () => {
    const delivery = signStandard("{not json", [secret()]);
    expect(await post(delivery)).toMatchObject({ status: 400, body: { code: "malformed_json" } });
    expect(world.current.eventRow("standard", delivery.headers["webhook-id"] ?? "")).toBeUndefined();
  });

  test("422 invalid_fields naming what a known type lacks, never a value", async () => {
    const body = JSON.stringify({
      type: "subscription.active",
      timestamp: "yesterday",
      data: { id: "sub_x" },
    });
    const answer = await post(signStandard(body, [secret()]));
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ code: "invalid_fields", fields: ["timestamp", "data.customer_id"] });
    const untyped = await post(signStandard(JSON.stringify({ data: {} }), [secret()]));
    expect(untyped.body).toMatchObject({ code: "invalid_fields", fields: ["type"] });
  });

  test("400 missing_headers naming each absent signature header", async () => {
    const { customerId, subscriptionId } = customer();
    const signed = signStandard(standardPayload({ customerId, subscriptionId }), [secret()]);
    const { "webhook-signature": _signature, "webhook-id": _id, ...rest } = signed.headers;
    const answer = await post({ body: signed.body, headers: rest });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      code: "missing_headers",
      message: "missing headers: webhook-id, webhook-signature",
      headers: ["webhook-id", "webhook-signature"],
    });
  });

  test("413 too_large over 256 KiB", async () => {
    const body = JSON.stringify({ type: "subscription.active", padding: "x".repeat(257 * 1024) });
    expect(await post(signStandard(body, [secret()]))).toMatchObject({
      status: 413,
      body: { code: "too_large" },
    });
  });

  test("404 unknown_provider; 503 not_configured while the secret is unset", async () => {
    const delivery = signStandard("{}", [secret()]);
    expect(await world.current.post("paypal", delivery)).toMatchObject({
      status: 404,
      body: { code: "unknown_provider" },
    });
    await withApiServer(world.current, { standardWebhookSecret: undefined }, async (url) => {
      const answer = await world.current.post("standard", delivery, url);
      expect(answer).toMatchObject({ status: 503, body: { code: "not_configured" } });
      expect(String(answer.body.message)).toContain("STANDARD_WEBHOOK_SECRET");
    });
  });

  test("outcomes are counted in payment_webhooks_total by provider and outcome", async () => {
    const text = await world.current.metrics.render();
    expect(text).toContain('payment_webhooks_total{provider="standard",outcome="applied"}');
    expect(text).toContain('payment_webhooks_total{provider="standard",outcome="invalid_signature"}');
    expect(text).toContain('payment_webhooks_total{provider="standard",outcome="duplicate"}');
  });
});
