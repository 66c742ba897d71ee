/**
 * requestReconfigure's decision for each state an instance can be in, on a real migrated database with the
 * rows the runner would have written; the queue is a plain object that records what it was asked.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { customers, instances, type OperationStatus, operations, stepRuns } from "../../db/schema.ts";
import { createCustomerStore } from "../../domain/customers.ts";
import { openOperation } from "../../domain/operations.ts";
import { customerSecrets, openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import {
  RECONFIGURE_OPERATION,
  ReconfigureEnqueueError,
  requestReconfigure,
} from "../../jobs/reconfigure/request.ts";
import { UPGRADE_OPERATION } from "../../jobs/upgrade/request.ts";
import type { JobQueue } from "../../queue/queue.ts";

const CUSTOMER = "cust-decide";
const INSTANCE = "idecide";
/** When the customer's secrets were stored, epoch ms. */
const STORED_AT = 1_000_000;

let database: TestDatabase;
let enqueued: string[];

const recordingQueue = (): JobQueue => {
  const refuse = () => Promise.reject(new Error("only enqueue is expected"));
  return {
    async enqueue(operation, instanceId) {
      enqueued.push(`${operation} ${instanceId}`);
      return { jobId: `${operation}:${instanceId}:1`, created: true };
    },
    signal: refuse,
    retry: refuse,
    ping: refuse,
    close: async () => {},
  };
};

beforeEach(() => {
  database = openTestDatabase();
  enqueued = [];
  createCustomerStore({ db: database.db, sealer: database.sealer, now: () => STORED_AT }).upsert(
    CUSTOMER,
    customerSecrets("decide"),
  );
});
afterEach(() => database.close());

function instance(status: string): void {
  database.db
    .insert(instances)
    .values({ id: INSTANCE, customerId: CUSTOMER, status, createdAt: 1, updatedAt: 1 })
    .run();
}

/** Records an operation as the runner leaves it; `delivery` adds its inject-secrets attempt. */
function operation(
  kind: string,
  status: OperationStatus,
  delivery?: { status: "succeeded" | "running" | "failed"; startedAt: number },
): string {
  const { id } = openOperation(database.db, kind, INSTANCE, 2);
  database.db.update(operations).set({ status }).where(eq(operations.id, id)).run();
  if (delivery) {
    database.db
      .insert(stepRuns)
      .values({
        instanceId: INSTANCE,
        operationId: id,
        run: 1,
        step: "inject-secrets",
        kind: "run",
        attempt: 1,
        ...delivery,
      })
      .run();
  }
  return id;
}

const decide = () => requestReconfigure({ db: database.db, queue: recordingQueue() }, CUSTOMER);
const enqueue = { kind: "enqueued", instanceId: INSTANCE, operationId: `reconfigure:${INSTANCE}:1` };

describe("requestReconfigure decides", () => {
  test("nothing for a customer without an instance, or an unknown customer", async () => {
    expect(await decide()).toEqual({ kind: "none" });
    expect(await requestReconfigure({ db: database.db, queue: recordingQueue() }, "nobody")).toEqual({
      kind: "none",
    });
  });

  test("a reconfigure when the secrets were stored after the last delivery started, even in the same ms", async () => {
    instance("ready");
    operation("provision", "succeeded", { status: "succeeded", startedAt: STORED_AT });
    expect(await decide()).toMatchObject(enqueue);
    expect(enqueued).toEqual([`${RECONFIGURE_OPERATION} ${INSTANCE}`]);
  });

  test("nothing when the last delivery started after the secrets were stored", async () => {
    instance("ready");
    operation("provision", "succeeded", { status: "succeeded", startedAt: STORED_AT + 1 });
    expect(await decide()).toEqual({ kind: "none" });
  });

  test("nothing for a failed provision, a lost server or a deprovision, whatever the secrets", async () => {
    for (const [status, kind, opStatus] of [
      ["failed", "provision", "failed"],
      ["lost", "provision", "succeeded"],
      ["deprovisioning", "deprovision", "running"],
      ["deprovisioned", "deprovision", "succeeded"],
    ] as const) {
      database.db.delete(stepRuns).run();
      database.db.delete(operations).run();
      database.db.delete(instances).run();
      instance(status);
      operation(kind, opStatus);
      expect(await decide()).toEqual({ kind: "none" });
    }
    expect(enqueued).toEqual([]);
  });

  test("a provision that has not injected delivers them itself; one that has makes the request wait", async () => {
    instance("provisioning");
    const provision = operation("provision", "parked");
    expect(await decide()).toEqual({ kind: "none" });
    database.db
      .insert(stepRuns)
      .values({
        instanceId: INSTANCE,
        operationId: provision,
        run: 1,
        step: "inject-secrets",
        kind: "run",
        attempt: 1,
        status: "running",
        startedAt: STORED_AT - 5,
      })
      .run();
    expect(await decide()).toEqual({ kind: "busy", instanceId: INSTANCE, operationId: provision });
    expect(enqueued).toEqual([]);
  });

  test("a queued reconfigure whose delivery failed and will be retried is joined, not waited for", async () => {
    instance("reconfiguring");
    operation("provision", "succeeded", { status: "succeeded", startedAt: 10 });
    operation(RECONFIGURE_OPERATION, "parked", { status: "failed", startedAt: STORED_AT - 1 });
    expect(await decide()).toMatchObject({ kind: "enqueued" });
  });

  test("a reconfigure re-run from its verify step does not deliver again: the request waits for it", async () => {
    instance("reconfiguring");
    operation("provision", "succeeded", { status: "succeeded", startedAt: 10 });
    const rerun = operation(RECONFIGURE_OPERATION, "queued", {
      status: "succeeded",
      startedAt: STORED_AT - 1,
    });
    database.db.update(operations).set({ run: 2 }).where(eq(operations.id, rerun)).run();
    expect(await decide()).toEqual({ kind: "busy", instanceId: INSTANCE, operationId: rerun });
  });

  test("new secrets during an upgrade get a reconfigure, which runs once the upgrade lets go of the instance", async () => {
    instance("upgrading");
    operation("provision", "succeeded", { status: "succeeded", startedAt: 10 });
    operation(UPGRADE_OPERATION, "running");
    expect(await decide()).toMatchObject(enqueue);
    expect(enqueued).toEqual([`${RECONFIGURE_OPERATION} ${INSTANCE}`]);
  });

  test("a reconfigure that failed (server kept, instance degraded) gets another for newer secrets", async () => {
    instance("degraded");
    operation("provision", "succeeded", { status: "succeeded", startedAt: 10 });
    operation(RECONFIGURE_OPERATION, "failed", { status: "succeeded", startedAt: STORED_AT - 1 });
    expect(await decide()).toMatchObject({ kind: "enqueued" });
  });

  test("a broker that refuses the job is a typed error; the customer row is untouched", async () => {
    instance("ready");
    operation("provision", "succeeded", { status: "succeeded", startedAt: 10 });
    const down: JobQueue = {
      ...recordingQueue(),
      enqueue: () => Promise.reject(new Error("Command timeout")),
    };
    await expect(requestReconfigure({ db: database.db, queue: down }, CUSTOMER)).rejects.toBeInstanceOf(
      ReconfigureEnqueueError,
    );
    const row = database.db.select().from(customers).where(eq(customers.id, CUSTOMER)).get();
    expect(row?.updatedAt).toBe(STORED_AT);
  });
});
