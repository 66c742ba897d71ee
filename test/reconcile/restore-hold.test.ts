/**
 * After a restore from backup the database is older than Hetzner: the sweep adopts, resumes at once and holds
 * every deletion and creation until an operator's `--apply` releases the hold.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Queue } from "bunqueue/client";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { restores } from "../../db/schema.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import {
  createOwnedServer,
  insertInstance,
  insertOperation,
  instanceRow,
  subscribe,
  summarize,
  sweeperFor,
} from "../../harness/reconcile/sweep-world.ts";
import { readOpenRestoreHold } from "../../jobs/reconcile/restore-hold.ts";
import { runSweep } from "../../jobs/reconcile/sweep.ts";
import { tick } from "../../jobs/reconcile/tick.ts";
import type { RestoreHold, SweepState } from "../../jobs/reconcile/types.ts";
import { operationsQueueName } from "../../queue/payload.ts";
import { brokerConnection } from "../../queue/queue.ts";
import { brief, customer, HOUR_MS, instance, NOW, op, POLICY, server, sweepState } from "./fleet-builders.ts";

setDefaultTimeout(60_000);

const HOLD: RestoreHold = { id: "r1", restoredAt: NOW - 60_000, snapshotTakenAt: NOW - HOUR_MS };
const restored = (state: SweepState): SweepState => ({ ...state, restoreHold: HOLD });

describe("tick after a restore", () => {
  // Reprovisioned after the snapshot: the snapshot's server 7 is gone, server 8 carries the instance's labels.
  const moved = sweepState({
    servers: [server(8, "ia", { createdAt: NOW - 2 * HOUR_MS })],
    instances: [instance("ia", { hetznerServerId: 7 })],
    customers: [customer("c-ia", "paid")],
  });

  test("normally the moved instance is lost and its new server a duplicate; restored, the server is adopted", () => {
    expect(tick(moved, NOW, POLICY).map(brief)).toEqual(["delete-zombie-server 8", "mark-instance-lost ia"]);
    expect(tick(restored(moved), NOW, POLICY).map(brief)).toEqual(["adopt-server ia 8"]);
  });

  test("two candidate servers are not guessed between (their deletion is held by the sweep)", () => {
    const two = { ...moved, servers: [...moved.servers, server(9, "ia", { createdAt: NOW - 2 * HOUR_MS })] };
    expect(tick(restored(two), NOW, POLICY).map(brief)).toEqual([
      "delete-zombie-server 8",
      "delete-zombie-server 9",
      "mark-instance-lost ia",
    ]);
  });

  test("an operation the snapshot recorded unfinished is resumed at once; a newer one gets the usual patience", () => {
    const state = sweepState({
      instances: [
        instance("ia", {
          status: "provisioning",
          operation: op("ia", { status: "queued", updatedAt: HOLD.restoredAt - 60_000 }),
        }),
        instance("ib", {
          status: "provisioning",
          operation: op("ib", { status: "queued", updatedAt: HOLD.restoredAt + 1000 }),
        }),
      ],
      customers: [customer("c-ia", "paid"), customer("c-ib", "paid")],
    });
    expect(tick(state, NOW, POLICY).map(brief)).toEqual([]);
    expect(tick(restored(state), NOW, POLICY).map(brief)).toEqual(["resume-operation provision:ia:1"]);
  });
});

describe("a sweep after a restore", () => {
  const world = provisionWorldForFile();

  test("adopts and resumes, holds deletions until --apply releases the hold", async () => {
    const w = world.current;
    const db = w.runtime.db;
    const policy = { zombieGraceMs: 0, stuckAfterMs: POLICY.stuckAfterMs, reprovisionLost: false };
    const sweeper = sweeperFor(w, policy);
    // Moved to a new server after the snapshot.
    const moved = insertInstance(db, { customerId: null, status: "ready", hetznerServerId: 999_999 });
    insertOperation(db, moved, "provision", "succeeded");
    const newServer = await createOwnedServer(w, moved);
    // Created after the snapshot for an instance the snapshot does not know.
    const unknown = await createOwnedServer(w, "iunknownafter");
    // Cancelled in the snapshot; the customer may have paid again since.
    const cancelled = w.addCustomer("cancelled").customerId;
    const cancelledServer = await createOwnedServer(w, "icancelled01");
    insertInstance(db, {
      id: "icancelled01",
      customerId: cancelled,
      status: "ready",
      hetznerServerId: cancelledServer.id,
    });
    insertOperation(db, "icancelled01", "provision", "succeeded");
    subscribe(db, cancelled, "cancelled");
    // Accepted before the snapshot, its broker job not in the queue snapshot.
    const pending = w.addCustomer("pending").customerId;
    const pendingInstance = insertInstance(db, { customerId: pending, status: "new" });
    const pendingOp = insertOperation(db, pendingInstance, "provision", "queued");
    db.insert(restores)
      .values({ id: "restore-1", snapshotTakenAt: Date.now() - HOUR_MS, restoredAt: Date.now() + 1 })
      .run();
    await Bun.sleep(2);

    const first = await sweeper.sweep();
    expect(summarize(first.decisions).sort()).toEqual(
      [
        `adopt-server ${moved} applied`,
        `resume-operation ${pendingInstance} applied`,
        "delete-zombie-server iunknownafter held",
        "enqueue-deprovision icancelled01 held",
      ].sort(),
    );
    expect(instanceRow(db, moved).hetznerServerId).toBe(newServer.id);
    expect(await w.hetzner.servers.get(unknown.id)).not.toBeNull();
    const queue = new Queue(operationsQueueName, { connection: brokerConnection(w.runtime.config) });
    expect(await queue.getJobState(pendingOp)).not.toBe("unknown");
    await queue.disconnect();

    // The next scheduled sweep still holds; only the operator's --apply releases.
    const second = await sweeper.sweep();
    expect(summarize(second.decisions)).toEqual([
      "delete-zombie-server iunknownafter held",
      "enqueue-deprovision icancelled01 held",
    ]);
    const applied = await runSweep(sweeper.deps, {
      id: "operator-apply",
      trigger: "operator",
      dryRun: false,
      requestedAt: Date.now(),
      releaseHold: true,
    });
    if (applied.kind !== "ran") throw new Error(`sweep did not run: ${applied.kind}`);
    expect(summarize(applied.result.decisions)).toEqual([
      "delete-zombie-server iunknownafter applied",
      "enqueue-deprovision icancelled01 applied",
    ]);
    expect(readOpenRestoreHold(db)).toBeNull();
    expect(db.select().from(restores).where(eq(restores.id, "restore-1")).get()?.releasedBySweep).toBe(
      "operator-apply",
    );
    await pollUntil(async () => (await w.hetzner.servers.get(unknown.id)) === null, {
      timeoutMs: 15_000,
      description: "the unknown server to be deleted",
    });
    await sweeper.broker.close();
  });
});
