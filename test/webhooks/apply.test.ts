import { describe, expect, test } from "bun:test";
import { applyPaymentState, currentPaymentState } from "../../domain/payments/apply.ts";
import { signStandard, standardPayload, webhookWorldForFile } from "../../harness/webhooks/world.ts";

const world = webhookWorldForFile();
const secret = () => [world.current.config.standardWebhookSecret ?? ""];

let seq = 0;
function registered(): string {
  const customerId = `apply-cust-${++seq}`;
  world.current.register(customerId);
  return customerId;
}

const send = (customerId: string, subscriptionId: string, type: string, occurredAt = new Date()) =>
  world.current.post(
    "standard",
    signStandard(standardPayload({ customerId, subscriptionId, type, occurredAt }), secret()),
  );
const operationNames = (customerId: string) =>
  world.current.operationsOf(customerId).map((op) => op.operation);

describe("applyPaymentState", () => {
  test("a customer without any known subscription has no state and nothing is requested", async () => {
    const customerId = registered();
    expect(await applyPaymentState(world.current.paymentDeps, customerId)).toEqual({
      state: null,
      request: null,
      awaitingCustomer: false,
    });
    expect(world.current.operationsOf(customerId)).toEqual([]);
  });

  test("paid while any subscription is: cancelling one of two keeps the server, cancelling both removes it", async () => {
    const customerId = registered();
    await send(customerId, "sub_a", "subscription.active");
    await send(customerId, "sub_b", "subscription.active");
    expect((await send(customerId, "sub_a", "subscription.canceled")).body).toEqual({ status: "applied" });
    expect(currentPaymentState(world.current.runtime.db, customerId)).toBe("paid");
    expect(operationNames(customerId)).toEqual(["provision"]);
    await send(customerId, "sub_b", "subscription.revoked");
    expect(currentPaymentState(world.current.runtime.db, customerId)).toBe("cancelled");
    expect(operationNames(customerId)).toEqual(["provision", "deprovision"]);
  });

  test("an active racing a newer cancellation never leaves a provision standing after the deprovision", async () => {
    const customers = Array.from({ length: 50 }, registered);
    const older = new Date(Date.now() - 60_000);
    await Promise.all(
      customers.flatMap((customerId) => [
        send(customerId, `sub_${customerId}`, "subscription.active", older),
        send(customerId, `sub_${customerId}`, "subscription.canceled"),
      ]),
    );
    for (const customerId of customers) {
      expect([[], ["provision", "deprovision"]]).toContainEqual(operationNames(customerId));
    }
  });

  test("applying twice joins the operation it started: one provision, created once", async () => {
    const customerId = registered();
    await send(customerId, `sub_${customerId}`, "subscription.active");
    const again = await applyPaymentState(world.current.paymentDeps, customerId);
    expect(again).toMatchObject({ state: "paid", awaitingCustomer: false, request: { created: false } });
    expect(operationNames(customerId)).toEqual(["provision"]);
  });
});
