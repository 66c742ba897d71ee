/**
 * Delete protection as the last line of defence: a ready customer's server is protected at Hetzner, so a
 * sweep misled into calling it a zombie (here: its instance row wrongly says deprovisioned) reports it
 * for an operator and deletes nothing; the customer's deprovision then lifts the protection and deletes it.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { instances } from "../../db/schema.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { summarize, sweeperFor } from "../../harness/reconcile/sweep-world.ts";

setDefaultTimeout(120_000);
const world = provisionWorldForFile();

test("a protected server survives a sweep that wrongly considers it a zombie", async () => {
  const w = world.current;
  const db = w.runtime.db;
  await w.startWorker();
  const { customerId } = w.addCustomer("protected");
  const provision = await w.requests.requestProvision(customerId);
  expect(await w.finish(provision.operationId)).toMatchObject({ status: "succeeded" });
  const serverId = w.instance(provision.instanceId).hetznerServerId ?? -1;

  // The bug this guards against: the database says the customer is gone while they are not.
  db.update(instances).set({ status: "deprovisioned" }).where(eq(instances.id, provision.instanceId)).run();
  const sweeper = sweeperFor(w);
  w.sim.clearRequests();
  const result = await sweeper.sweep();

  expect(result.status).toBe("succeeded");
  expect(summarize(result.decisions)).toEqual([`report-protected-server ${provision.instanceId} applied`]);
  expect(result.decisions[0]?.reason).toContain("delete-protected");
  expect(w.sim.requests().map((r) => `${r.method} ${r.path}`)).toEqual(["GET /servers"]);
  expect((await w.hetzner.servers.get(serverId))?.status).toBe("running");
  expect(await sweeper.metrics.render()).toContain(
    'reconcile_decisions_total{kind="report-protected-server",outcome="applied"} 1',
  );

  // Only a deprovision lifts it, in a step of its own, and then the server goes.
  db.update(instances).set({ status: "ready" }).where(eq(instances.id, provision.instanceId)).run();
  const deprovision = await w.requests.requestDeprovision(customerId);
  if (!deprovision) throw new Error("nothing to deprovision");
  const summary = await w.finish(deprovision.operationId);
  expect(summary).toMatchObject({ status: "succeeded" });
  expect(summary.phases.map((p) => p.step)).toContain("unprotect-server");
  expect(await w.hetzner.servers.get(serverId)).toBeNull();
  await sweeper.broker.close();
});
