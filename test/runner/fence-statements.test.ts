/**
 * fence() runs the runner's writes as prepared statements reused per database handle, inside the
 * connection's own IMMEDIATE transaction: these pin down that the reuse never crosses databases and that
 * a write that throws, or a lost lease, leaves nothing behind.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { instances, operations, stepRuns } from "../../db/schema.ts";
import { openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import { LeaseLostError } from "../../jobs/errors.ts";
import { acquireLease, fence, type Lease } from "../../worker/runner/lease.ts";
import { markCurrentStep, type OperationRecord } from "../../worker/runner/operation-state.ts";
import { beginAttempt, finishAttempt, loadStepHistory } from "../../worker/runner/step-store.ts";

const opened: TestDatabase[] = [];
afterEach(() => {
  for (const t of opened.splice(0)) t.close();
});

/** A fresh database holding one instance with a queued provision operation, and its lease. */
function databaseWithLease(instanceId: string): { t: TestDatabase; op: OperationRecord; lease: Lease } {
  const t = openTestDatabase();
  opened.push(t);
  t.db.insert(instances).values({ id: instanceId, createdAt: 1, updatedAt: 1 }).run();
  const op: OperationRecord = {
    id: `provision:${instanceId}:1`,
    instanceId,
    operation: "provision",
    status: "queued",
    run: 1,
    waitSignal: null,
    waitDeadline: null,
    errorStep: null,
    errorCode: null,
    errorMessage: null,
    createdAt: 1,
  };
  t.db
    .insert(operations)
    .values({ ...op, seq: 1, updatedAt: 1 })
    .run();
  const attempt = acquireLease(t.db, instanceId, "w/1", 60_000, 10);
  if (!("lease" in attempt)) throw new Error(`${instanceId}: expected to get the lease`);
  return { t, op, lease: attempt.lease };
}

/** One attempt of `step` opened and closed under the fence, as the runner records it. */
function recordAttempt(t: TestDatabase, op: OperationRecord, lease: Lease, step: string, now: number) {
  const start = fence(t.db, lease, now, (tx) => {
    markCurrentStep(tx, op, step, now);
    return beginAttempt(
      tx,
      { instanceId: op.instanceId, operationId: op.id, run: 1, step, kind: "run" },
      0,
      now,
    );
  });
  fence(t.db, lease, now + 1, (tx) =>
    finishAttempt(tx, start.rowId, { status: "succeeded", durationMs: 1, output: { step } }, now + 1),
  );
  return start;
}

describe("fence and the runner's reused statements", () => {
  test("two databases used in turn each get only their own writes", () => {
    const a = databaseWithLease("ia");
    const b = databaseWithLease("ib");
    recordAttempt(a.t, a.op, a.lease, "first", 100);
    recordAttempt(b.t, b.op, b.lease, "other", 200);
    recordAttempt(a.t, a.op, a.lease, "second", 300);

    expect(a.t.db.select({ step: stepRuns.step }).from(stepRuns).all()).toEqual([
      { step: "first" },
      { step: "second" },
    ]);
    expect(b.t.db.select({ step: stepRuns.step }).from(stepRuns).all()).toEqual([{ step: "other" }]);
    const history = loadStepHistory(a.t.db, a.op.id, 1, ["first", "second"]);
    expect([...history.finished]).toEqual([
      ["first", { step: "first" }],
      ["second", { step: "second" }],
    ]);
    const row = b.t.db.select().from(instances).where(eq(instances.id, "ib")).get();
    expect(row?.currentStep).toBe("other");
    expect(row?.updatedAt).toBe(201);
  });

  test("a write that throws inside the fence leaves nothing behind, and the next fence works", () => {
    const { t, op, lease } = databaseWithLease("ithrow");
    expect(() =>
      fence(t.db, lease, 50, (tx) => {
        markCurrentStep(tx, op, "half-done", 50);
        throw new Error("the step's write failed");
      }),
    ).toThrow("the step's write failed");
    const untouched = t.db.select().from(instances).where(eq(instances.id, "ithrow")).get();
    expect(untouched?.currentStep).toBeNull();
    expect(t.db.$client.inTransaction).toBe(false);

    recordAttempt(t, op, lease, "after", 60);
    expect(t.db.select().from(instances).where(eq(instances.id, "ithrow")).get()?.currentStep).toBe("after");
  });

  test("a holder whose lease was taken over writes nothing", () => {
    const { t, op, lease } = databaseWithLease("ilost");
    const takeover = acquireLease(t.db, "ilost", "w/2", 60_000, 120_000);
    expect("lease" in takeover).toBe(true);
    expect(() => recordAttempt(t, op, lease, "stale", 120_001)).toThrow(LeaseLostError);
    expect(t.db.select().from(stepRuns).all()).toEqual([]);
    expect(t.db.select().from(instances).where(eq(instances.id, "ilost")).get()?.currentStep).toBeNull();
  });
});
