/**
 * What a sweep costs at Hetzner, counted by the simulator's own request log: ceil(servers / 50) list pages
 * plus one request per corrective action, whatever the fleet size.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { type Fleet, startFleet } from "../../harness/reconcile/fleet.ts";
import { runSweep } from "../../jobs/reconcile/sweep.ts";

setDefaultTimeout(60_000);

async function sweepOnce(fleet: Fleet, id: string) {
  fleet.sim.clearRequests();
  const run = await runSweep(fleet.deps, { id, trigger: "operator", dryRun: false, requestedAt: Date.now() });
  if (run.kind !== "ran") throw new Error(`sweep ${id} did not run`);
  const requests = fleet.sim.requests().map((r) => `${r.method} ${r.path}`);
  return { ...run.result, requests };
}

test("300 servers with 4 zombies: 6 list pages and 4 deletes, then 6 pages and nothing to do", async () => {
  const fleet = await startFleet({ servers: 300, zombies: 4 });
  try {
    const first = await sweepOnce(fleet, "fleet-1");
    expect(first.serversSeen).toBe(300);
    expect(first.decisions.map((d) => `${d.kind} ${d.outcome}`)).toEqual(
      Array(4).fill("delete-zombie-server applied"),
    );
    expect(first.requests).toEqual([
      ...Array(6).fill("GET /servers"),
      ...Array(4).fill("DELETE /servers/{id}"),
    ]);
    expect(first.hetznerRequests).toBe(Math.ceil(300 / 50) + 4);

    const second = await sweepOnce(fleet, "fleet-2");
    expect(second.serversSeen).toBe(296);
    expect(second.decisions).toEqual([]);
    expect(second.requests).toEqual(Array(6).fill("GET /servers"));
    expect(second.hetznerRequests).toBe(6);
  } finally {
    await fleet.dispose();
  }
});

test("50 servers are listed in one request", async () => {
  const fleet = await startFleet({ servers: 50, zombies: 0 });
  try {
    const sweep = await sweepOnce(fleet, "fleet-50");
    expect(sweep.requests).toEqual(["GET /servers"]);
    expect(sweep.decisions).toEqual([]);
  } finally {
    await fleet.dispose();
  }
});
