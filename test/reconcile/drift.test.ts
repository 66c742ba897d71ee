/**
 * Every drift case the sweep repairs, each made deliberately in a real world (broker, SQLite, simulator with
 * fake machines), repaired by ONE sweep; once a worker has carried out what it started, a second sweep
 * decides nothing.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { Queue, UnrecoverableError, Worker } from "bunqueue/client";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../cli/wait.ts";
import { instances, operations } from "../../db/schema.ts";
import { operationsQueueName } from "../../jobs/payload.ts";
import { brokerConnection } from "../../jobs/queue.ts";
import { provisionWorldForFile } from "../provision-job/world.ts";
import {
  createOwnedServer,
  insertInstance,
  insertOperation,
  instanceRow,
  operationRow,
  subscribe,
  summarize,
  sweeperFor,
} from "./sweep-world.ts";

setDefaultTimeout(120_000);
const world = provisionWorldForFile();

/** Fails the operation's broker job outside the runner, as exhausted broker attempts would. */
async function failBrokerJob(jobId: string): Promise<void> {
  const connection = brokerConnection(world.current.runtime.config);
  const saboteur = new Worker(
    operationsQueueName,
    () => Promise.reject(new UnrecoverableError("infrastructure failure outside the runner")),
    { connection },
  );
  saboteur.on("error", () => undefined);
  const queue = new Queue(operationsQueueName, { connection });
  try {
    await pollUntil(async () => (await queue.getJobState(jobId)) === "failed", {
      timeoutMs: 15_000,
      description: `broker job ${jobId} failed`,
    });
  } finally {
    await saboteur.close();
    await queue.disconnect();
  }
}

/** Removes the operation's broker job, as a lost add or a broker that forgot it would. */
async function loseBrokerJob(jobId: string): Promise<void> {
  const queue = new Queue(operationsQueueName, {
    connection: brokerConnection(world.current.runtime.config),
  });
  await queue.removeAsync(jobId);
  await queue.disconnect();
}

async function makeDrift() {
  const w = world.current;
  const db = w.runtime.db;
  // A crashed provision created its server but never saved the id; the instance ended failed.
  const zombie = insertInstance(db, { customerId: "cust-zombie", status: "failed" });
  insertOperation(db, zombie, "provision", "failed");
  const zombieServer = await createOwnedServer(w, zombie);
  // A ready instance whose server someone deleted by hand.
  const goneServer = await createOwnedServer(w, "ilosthandmade");
  const lost = insertInstance(db, {
    id: "ilosthandmade",
    customerId: "cust-lost",
    status: "ready",
    hetznerServerId: goneServer.id,
  });
  insertOperation(db, lost, "provision", "succeeded");
  await w.hetzner.servers.delete(goneServer.id);
  await pollUntil(async () => (await w.hetzner.servers.get(goneServer.id)) === null, {
    timeoutMs: 15_000,
    description: "the hand-deleted server to be gone",
  });
  // A provision whose broker job failed outside the runner (the db still says queued).
  const brokerFailed = w.addCustomer("brokerfail").customerId;
  const failedOp = await w.requests.requestProvision(brokerFailed);
  await failBrokerJob(failedOp.operationId);
  // A provision stuck `running` after its worker died and its broker job was lost.
  const stuckCustomer = w.addCustomer("stuck").customerId;
  const stuckOp = await w.requests.requestProvision(stuckCustomer);
  await loseBrokerJob(stuckOp.operationId);
  db.update(operations).set({ status: "running" }).where(eq(operations.id, stuckOp.operationId)).run();
  db.update(instances).set({ status: "provisioning" }).where(eq(instances.id, stuckOp.instanceId)).run();
  // A paid customer with no instance (their payment's job was lost).
  const paid = w.addCustomer("paid").customerId;
  subscribe(db, paid, "paid");
  // A cancelled customer whose server still runs.
  const cancelled = w.addCustomer("cancelled").customerId;
  subscribe(db, cancelled, "cancelled");
  const cancelledInstance = insertInstance(db, { customerId: cancelled, status: "provisioning" });
  const cancelledServer = await createOwnedServer(w, cancelledInstance);
  db.update(instances)
    .set({ status: "ready", hetznerServerId: cancelledServer.id })
    .where(eq(instances.id, cancelledInstance))
    .run();
  insertOperation(db, cancelledInstance, "provision", "succeeded");
  // A cancelled customer's provision stuck with no broker job and no server: failed, not resumed.
  const abandonedCustomer = w.addCustomer("abandoned").customerId;
  subscribe(db, abandonedCustomer, "cancelled");
  const abandoned = insertInstance(db, { customerId: abandonedCustomer, status: "provisioning" });
  const abandonedOp = insertOperation(db, abandoned, "provision", "queued");
  return {
    zombie,
    zombieServer,
    lost,
    failedOp,
    stuckOp,
    paid,
    cancelled,
    cancelledInstance,
    cancelledServer,
    abandoned,
    abandonedOp,
  };
}

test("one sweep repairs every kind of drift, and the next decides nothing", async () => {
  const w = world.current;
  const db = w.runtime.db;
  const drift = await makeDrift();
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
  for (const id of [...provisions, paidOp.id]) expect((await w.finish(id)).status).toBe("succeeded");
  const deprovision = `deprovision:${drift.cancelledInstance}:1`;
  expect((await w.finish(deprovision)).status).toBe("succeeded");
  await pollUntil(async () => (await w.hetzner.servers.get(drift.zombieServer.id)) === null, {
    timeoutMs: 15_000,
    description: "the zombie server to be gone",
  });

  const second = await sweeper.sweep();
  expect(second.decisions).toEqual([]);
  expect(second.status).toBe("succeeded");
  await sweeper.broker.close();
});
