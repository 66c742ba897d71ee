/**
 * The drift cases of the reconcile tests, each made deliberately in a real world: rows as a crash or a
 * lost job would leave them, servers at the simulator, broker jobs failed or removed behind the runner's back.
 */

import { Queue, UnrecoverableError, Worker } from "bunqueue/client";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations } from "../../db/schema.ts";
import type { ProvisionWorld } from "../../harness/provision-job/world.ts";
import {
  createOwnedServer,
  insertInstance,
  insertOperation,
  subscribe,
} from "../../harness/reconcile/sweep-world.ts";
import { operationsQueueName } from "../../queue/payload.ts";
import { brokerConnection } from "../../queue/queue.ts";

/** Fails the operation's broker job outside the runner, as exhausted broker attempts would. */
async function failBrokerJob(w: ProvisionWorld, jobId: string): Promise<void> {
  const connection = brokerConnection(w.runtime.config);
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
async function loseBrokerJob(w: ProvisionWorld, jobId: string): Promise<void> {
  const queue = new Queue(operationsQueueName, {
    connection: brokerConnection(w.runtime.config),
  });
  await queue.removeAsync(jobId);
  await queue.disconnect();
}

/** One instance of every drift case; returns the ids a test checks. */
export async function makeDrift(w: ProvisionWorld) {
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
  await failBrokerJob(w, failedOp.operationId);
  // A provision stuck `running` after its worker died and its broker job was lost.
  const stuckCustomer = w.addCustomer("stuck").customerId;
  const stuckOp = await w.requests.requestProvision(stuckCustomer);
  await loseBrokerJob(w, stuckOp.operationId);
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
