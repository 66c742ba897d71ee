/** A dry run decides exactly what a real sweep would, records it as planned, and changes nothing anywhere. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { Queue } from "bunqueue/client";
import { ne } from "drizzle-orm";
import { instances, operations, sweeps } from "../../db/schema.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { summarize, sweeperFor } from "../../harness/reconcile/sweep-world.ts";
import { readSweep } from "../../jobs/reconcile/sweep-record.ts";
import { operationsQueueName } from "../../queue/payload.ts";
import { brokerConnection } from "../../queue/queue.ts";
import { makeDrift } from "./drift-cases.ts";

setDefaultTimeout(60_000);
const world = provisionWorldForFile();

/** Everything a sweep could change: rows, broker jobs of every recorded operation, servers at Hetzner. */
async function snapshot(dryRunId: string | null) {
  const w = world.current;
  const db = w.runtime.db;
  const ops = db.select().from(operations).all();
  const queue = new Queue(operationsQueueName, { connection: brokerConnection(w.runtime.config) });
  const jobStates = await Promise.all(ops.map(async (op) => `${op.id}=${await queue.getJobState(op.id)}`));
  const counts = await queue.getJobCountsAsync();
  await queue.disconnect();
  const servers = await w.hetzner.servers.listAll();
  return {
    instances: db.select().from(instances).all(),
    operations: ops,
    otherSweeps: db
      .select()
      .from(sweeps)
      .where(ne(sweeps.id, dryRunId ?? ""))
      .all(),
    jobStates,
    counts,
    servers: servers.map((s) => `${s.id} ${s.name} ${s.status}`),
  };
}

test("a dry run plans every repair and changes nothing in the db, the broker or at Hetzner", async () => {
  const w = world.current;
  const drift = await makeDrift(w);
  const sweeper = sweeperFor(w);
  const before = await snapshot(null);
  w.sim.clearRequests();

  const planned = await sweeper.sweep({ dryRun: true });

  expect(w.sim.requests().map((r) => `${r.method} ${r.path}`)).toEqual(["GET /servers"]);
  expect(planned.hetznerRequests).toBe(1);
  expect(planned.decisions.map((d) => d.outcome)).toEqual(Array(7).fill("planned"));
  expect(summarize(planned.decisions)).toContain(`delete-zombie-server ${drift.zombie} planned`);
  expect(await snapshot(planned.id)).toEqual(before);
  expect(readSweep(w.runtime.db, planned.id)).toMatchObject({
    dryRun: true,
    status: "succeeded",
    serversSeen: 2,
  });

  // The same state swept for real decides the same things, in the same order.
  const applied = await sweeper.sweep();
  expect(applied.decisions.map(({ outcome: _, ...d }) => d)).toEqual(
    planned.decisions.map(({ outcome: _, ...d }) => d),
  );
  await sweeper.broker.close();
});
