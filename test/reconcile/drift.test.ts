/**
 * Every drift case the sweep repairs, each made deliberately in a real world (broker, SQLite, simulator with
 * fake machines), repaired by ONE sweep; once a worker has carried out what it started, a second sweep
 * decides nothing.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations } from "../../db/schema.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { instanceRow, operationRow, summarize, sweeperFor } from "../../harness/reconcile/sweep-world.ts";
import { makeDrift } from "./drift-cases.ts";

setDefaultTimeout(120_000);
const world = provisionWorldForFile();

test("one sweep repairs every kind of drift, and the next decides nothing", async () => {
  const w = world.current;
  const db = w.runtime.db;
  const drift = await makeDrift(w);
  const sweeper = sweeperFor(w);
  w.sim.clearRequests();

  const first = await sweeper.sweep();

  expect(first.status).toBe("succeeded");
  expect(summarize(first.decisions).sort()).toEqual(
    [
      `delete-zombie-server ${drift.zombie} applied`,
      `mark-instance-lost ${drift.lost} applied`,
      `fail-operation ${drift.abandoned} applied`,
      `resume-operation ${drift.failedOp.instanceId} applied`,
      `resume-operation ${drift.stuckOp.instanceId} applied`,
      `enqueue-deprovision ${drift.cancelledInstance} applied`,
      `enqueue-provision ${drift.paid} applied`,
    ].sort(),
  );
  // One list page and one delete: every other action goes through the database and the broker.
  expect(first.hetznerRequests).toBe(2);
  expect(w.sim.requests().map((r) => `${r.method} ${r.path}`)).toEqual([
    "GET /servers",
    "DELETE /servers/{id}",
  ]);
  expect(instanceRow(db, drift.lost)).toMatchObject({ status: "lost", errorCode: "server_gone" });
  expect(instanceRow(db, drift.abandoned)).toMatchObject({ status: "failed", errorCode: "abandoned" });
  expect(operationRow(db, drift.abandonedOp)).toMatchObject({ status: "failed", errorCode: "abandoned" });

  await w.startWorker();
  const provisions = [drift.failedOp.operationId, drift.stuckOp.operationId];
  const paidOp = db
    .select({ id: operations.id })
    .from(operations)
    .innerJoin(instances, eq(instances.id, operations.instanceId))
    .where(eq(instances.customerId, drift.paid))
    .get();
  if (!paidOp) throw new Error("the paid customer's provision was not recorded");
  // Whole summaries, so a failure shows its step and reason.
  for (const id of [...provisions, paidOp.id])
    expect(await w.finish(id)).toMatchObject({ status: "succeeded" });
  const deprovision = `deprovision:${drift.cancelledInstance}:1`;
  expect(await w.finish(deprovision)).toMatchObject({ status: "succeeded" });
  await pollUntil(async () => (await w.hetzner.servers.get(drift.zombieServer.id)) === null, {
    timeoutMs: 15_000,
    description: "the zombie server to be gone",
  });

  const second = await sweeper.sweep();
  expect(second.decisions).toEqual([]);
  expect(second.status).toBe("succeeded");
  const metrics = await sweeper.metrics.render();
  expect(metrics).toContain('reconcile_sweeps_total{outcome="succeeded"} 2');
  expect(metrics).toContain('reconcile_decisions_total{kind="resume-operation",outcome="applied"} 2');
  expect(metrics).toContain('reconcile_decisions_total{kind="delete-zombie-server",outcome="applied"} 1');
  expect(metrics).toMatch(/reconcile_sweep_duration_seconds_count 2/);
  expect(metrics).toMatch(/reconcile_last_sweep_timestamp_seconds \d/);
  await sweeper.broker.close();
});
