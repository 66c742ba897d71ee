import { beforeAll, expect, test } from "bun:test";
import {
  type Answer,
  type Delivery,
  signStandard,
  signStripe,
  standardPayload,
  stripePayload,
  webhookWorldForFile,
} from "../../harness/webhooks/world.ts";

const world = webhookWorldForFile();

/** 250 customers paying with two Stripe events each, 200 cancelling via Standard Webhooks: 700 unique events. */
const PAYING = 250;
const CANCELLING = 200;
const DUPLICATES = 300;

const paying = Array.from({ length: PAYING }, (_, i) => `burst-pay-${i}`);
const cancelling = Array.from({ length: CANCELLING }, (_, i) => `burst-cancel-${i}`);
const standardSecret = () => [world.current.config.standardWebhookSecret ?? ""];
const stripeSecret = () => [world.current.config.stripeWebhookSecret ?? ""];

interface Send {
  provider: "standard" | "stripe";
  delivery: Delivery;
}

beforeAll(async () => {
  for (const customerId of [...paying, ...cancelling]) world.current.register(customerId);
  // The cancelling customers paid a minute ago: each has a queued provision before the burst.
  const paid = await Promise.all(
    cancelling.map((customerId) =>
      world.current.post(
        "standard",
        signStandard(
          standardPayload({
            customerId,
            subscriptionId: `sub_${customerId}`,
            occurredAt: new Date(Date.now() - 60_000),
          }),
          standardSecret(),
        ),
      ),
    ),
  );
  expect(paid.every((answer) => answer.body.status === "applied")).toBe(true);
});

async function uniqueEvents(): Promise<Send[]> {
  const stripe = await Promise.all(
    paying.flatMap((customerId) =>
      ["customer.subscription.created", "customer.subscription.updated"].map(async (type) => ({
        provider: "stripe" as const,
        delivery: await signStripe(
          stripePayload({ customerId, subscriptionId: `sub_${customerId}`, type }),
          stripeSecret(),
        ),
      })),
    ),
  );
  const standard = cancelling.map((customerId) => ({
    provider: "standard" as const,
    delivery: signStandard(
      standardPayload({ customerId, subscriptionId: `sub_${customerId}`, type: "subscription.canceled" }),
      standardSecret(),
    ),
  }));
  return [...stripe, ...standard];
}

/** Deterministic shuffle (a fixed LCG), so a failure can be replayed. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let state = 42;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

test("1000 concurrent webhooks with 30% duplicates: all 200, exactly one job per intended action", async () => {
  const unique = await uniqueEvents();
  const duplicates = Array.from({ length: DUPLICATES }, (_, i) => unique[(i * 7) % unique.length] as Send);
  const sends = shuffled([...unique, ...duplicates]);
  expect(sends).toHaveLength(1000);

  const answers: Answer[] = await Promise.all(
    sends.map(({ provider, delivery }) => world.current.post(provider, delivery)),
  );
  expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
  const statuses = answers.map((answer) => String(answer.body.status));
  // Two events of one subscription in the same second are ordered by event id: one of them may be stale.
  expect(statuses.filter((status) => !["applied", "duplicate", "stale"].includes(status))).toEqual([]);
  expect(statuses.filter((status) => status === "duplicate").length).toBeLessThanOrEqual(DUPLICATES);

  const expected = new Map<string, string[]>();
  for (const customerId of paying) expected.set(customerId, ["provision"]);
  for (const customerId of cancelling) expected.set(customerId, ["provision", "deprovision"]);
  const operationIds: string[] = [];
  for (const [customerId, operations] of expected) {
    const ops = world.current.operationsOf(customerId);
    expect({ customerId, operations: ops.map((op) => op.operation) }).toEqual({ customerId, operations });
    operationIds.push(...ops.map((op) => op.id));
  }
  const jobs = (await world.current.brokerJobIds()).filter((id) => operationIds.includes(id));
  expect(jobs.sort()).toEqual(operationIds.sort());
  expect(operationIds).toHaveLength(PAYING + 2 * CANCELLING);
});
