import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Queue } from "bunqueue/client";
import { eq } from "drizzle-orm";
import { createSealer } from "../../core/secrets.ts";
import { customers, instances, operations } from "../../db/schema.ts";
import {
  CustomerSecretsGoneError,
  createCustomerStore,
  UnknownCustomerError,
} from "../../domain/customers.ts";
import { createRequests, newInstanceId } from "../../domain/requests.ts";
import { customerSecrets } from "../../harness/customers/fixtures.ts";
import { type Runtime, startRuntime } from "../../harness/runner/harness.ts";
import { operationsQueueName } from "../../queue/payload.ts";

// One real broker for the file; spawning it on a loaded 2-core machine can take a few seconds.
setDefaultTimeout(30_000);

let runtime: Runtime;
beforeAll(async () => {
  runtime = await startRuntime({ collectLogs: false });
});
afterAll(async () => {
  await runtime.dispose();
});

let customerSeq = 0;
let customerId: string;
beforeEach(() => {
  customerId = `cust-${++customerSeq}`;
  createCustomerStore({ db: runtime.db, sealer: createSealer(runtime.config.secretsKeys) }).upsert(
    customerId,
    customerSecrets(customerId),
  );
});

const requests = () => createRequests({ db: runtime.db, queue: runtime.queue });

function setInstanceStatus(instanceId: string, status: string) {
  runtime.db.update(instances).set({ status }).where(eq(instances.id, instanceId)).run();
}

function setOperationStatus(operationId: string, status: "succeeded" | "failed") {
  runtime.db.update(operations).set({ status }).where(eq(operations.id, operationId)).run();
}

async function brokerJobIds(): Promise<string[]> {
  const { brokerHost: host, brokerPort: port, brokerToken: token } = runtime.config;
  const broker = new Queue(operationsQueueName, { connection: { host, port, token } });
  try {
    return (await broker.getWaitingAsync()).map((job) => job.id);
  } finally {
    await broker.disconnect();
  }
}

describe("requestProvision", () => {
  test("creates the customer's instance and one provision job; duplicates join it", async () => {
    const first = await requests().requestProvision(customerId);
    const again = await Promise.all([
      requests().requestProvision(customerId),
      requests().requestProvision(customerId),
    ]);
    expect(first.instanceId).toMatch(/^i[a-z2-7]{12}$/);
    expect(first).toEqual({
      instanceId: first.instanceId,
      operationId: `provision:${first.instanceId}:1`,
      created: true,
    });
    for (const result of again) expect(result).toEqual({ ...first, created: false });

    const row = runtime.db.select().from(instances).where(eq(instances.id, first.instanceId)).get();
    expect(row).toMatchObject({ customerId, status: "new", serverName: `rachel-${first.instanceId}` });
    expect(
      runtime.db.select().from(instances).where(eq(instances.customerId, customerId)).all(),
    ).toHaveLength(1);
    expect((await brokerJobIds()).filter((id) => id.includes(first.instanceId))).toEqual([first.operationId]);
  });

  test("a ready instance answers with the provision that made it ready, enqueueing nothing", async () => {
    const first = await requests().requestProvision(customerId);
    setOperationStatus(first.operationId, "succeeded");
    setInstanceStatus(first.instanceId, "ready");
    expect(await requests().requestProvision(customerId)).toEqual({ ...first, created: false });
    expect(
      runtime.db.select().from(operations).where(eq(operations.instanceId, first.instanceId)).all(),
    ).toHaveLength(1);
  });

  test("an instance reconfiguring or degraded by a failed reconfigure keeps its provision: nothing is enqueued", async () => {
    const first = await requests().requestProvision(customerId);
    setOperationStatus(first.operationId, "succeeded");
    for (const status of ["reconfiguring", "degraded"]) {
      setInstanceStatus(first.instanceId, status);
      expect(await requests().requestProvision(customerId)).toEqual({ ...first, created: false });
    }
    expect(
      runtime.db.select().from(operations).where(eq(operations.instanceId, first.instanceId)).all(),
    ).toHaveLength(1);
  });

  test("a lost instance (its server gone) gets a new provision on the same instance", async () => {
    const first = await requests().requestProvision(customerId);
    setOperationStatus(first.operationId, "succeeded");
    setInstanceStatus(first.instanceId, "lost");
    expect(await requests().requestProvision(customerId)).toEqual({
      instanceId: first.instanceId,
      operationId: `provision:${first.instanceId}:2`,
      created: true,
    });
  });

  test("after a failed provision a request starts a fresh run on the same instance", async () => {
    const first = await requests().requestProvision(customerId);
    setOperationStatus(first.operationId, "failed");
    setInstanceStatus(first.instanceId, "failed");
    const again = await requests().requestProvision(customerId);
    expect(again).toEqual({
      instanceId: first.instanceId,
      operationId: `provision:${first.instanceId}:2`,
      created: true,
    });
  });

  test("refuses an unknown or shredded customer with a typed error and creates nothing", async () => {
    await expect(requests().requestProvision("nobody")).rejects.toBeInstanceOf(UnknownCustomerError);
    runtime.db.update(customers).set({ shreddedAt: 1 }).where(eq(customers.id, customerId)).run();
    await expect(requests().requestProvision(customerId)).rejects.toBeInstanceOf(CustomerSecretsGoneError);
    expect(runtime.db.select().from(instances).where(eq(instances.customerId, customerId)).all()).toEqual([]);
  });
});

describe("requestDeprovision", () => {
  test("enqueues one deprovision for the live instance; duplicates join it", async () => {
    const provision = await requests().requestProvision(customerId);
    const first = await requests().requestDeprovision(customerId);
    const again = await requests().requestDeprovision(customerId);
    expect(first).toEqual({
      instanceId: provision.instanceId,
      operationId: `deprovision:${provision.instanceId}:1`,
      created: true,
    });
    expect(again).toEqual({ ...first, created: false } as typeof again);
    expect(await brokerJobIds()).toContain(`deprovision:${provision.instanceId}:1`);
  });

  test("null when the customer has no instance or only deprovisioned ones", async () => {
    expect(await requests().requestDeprovision(customerId)).toBeNull();
    const provision = await requests().requestProvision(customerId);
    setInstanceStatus(provision.instanceId, "deprovisioned");
    expect(await requests().requestDeprovision(customerId)).toBeNull();
    await expect(requests().requestDeprovision("nobody")).rejects.toBeInstanceOf(UnknownCustomerError);
  });

  test("a provision requested after a deprovision gets a new instance", async () => {
    const old = await requests().requestProvision(customerId);
    await requests().requestDeprovision(customerId);
    const fresh = await requests().requestProvision(customerId);
    expect(fresh.instanceId).not.toBe(old.instanceId);
    expect(fresh.created).toBe(true);
  });
});

test("instance ids are 'i' and 12 lowercase base32 characters, and do not repeat", () => {
  const ids = Array.from({ length: 1000 }, newInstanceId);
  for (const id of ids) expect(id).toMatch(/^i[a-z2-7]{12}$/);
  expect(new Set(ids).size).toBe(ids.length);
});
