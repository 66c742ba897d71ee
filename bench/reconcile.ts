/**
 * Reconcile sweep cost at 300 servers: Hetzner requests (counted by the simulator) against the target
 * `ceil(servers / 50) + 1 + actions`, and wall time, for a sweep that deletes zombies, for steady-state
 * sweeps with nothing to do, and for a dry run. `bun bench/reconcile.ts`.
 */

import { type Fleet, startFleet } from "../harness/reconcile/fleet.ts";
import { runSweep } from "../jobs/reconcile/sweep.ts";
import { type BenchFigure, figure, percentile, printFigures } from "./support/figures.ts";

const servers = 300;
const zombies = 10;
const steadyRounds = 20;
/** Wall time of one sweep of 300 servers on loopback, in ms: six list pages and the database reads. */
const sweepTargetMs = 250;

let sweepCount = 0;

async function timedSweep(fleet: Fleet, dryRun: boolean) {
  sweepCount += 1;
  fleet.sim.clearRequests();
  const started = performance.now();
  const run = await runSweep(fleet.deps, {
    id: `bench-${sweepCount}`,
    trigger: "operator",
    dryRun,
    requestedAt: Date.now(),
  });
  const ms = performance.now() - started;
  if (run.kind !== "ran" || run.result.status !== "succeeded")
    throw new Error(`sweep failed: ${JSON.stringify(run)}`);
  const actions = dryRun ? 0 : run.result.decisions.length;
  return { ms, requests: fleet.sim.requests().length, actions, recorded: run.result.hetznerRequests };
}

const requestTarget = (actions: number) => Math.ceil(servers / 50) + 1 + actions;

export async function runReconcileBench(): Promise<BenchFigure[]> {
  const fleet = await startFleet({ servers, zombies });
  try {
    const dry = await timedSweep(fleet, true);
    const repair = await timedSweep(fleet, false);
    const steady = [];
    for (let round = 0; round < steadyRounds; round++) steady.push(await timedSweep(fleet, false));
    const steadyMs = steady.map((s) => s.ms);
    const steadyRequests = Math.max(...steady.map((s) => s.requests));
    const miscounted = [dry, repair, ...steady].filter((s) => s.recorded !== s.requests).length;
    return [
      figure(
        `dry run: Hetzner requests (${servers} servers, nothing applied)`,
        dry.requests,
        "requests",
        requestTarget(0),
      ),
      figure(
        `repair sweep: Hetzner requests (${servers} servers, ${repair.actions} zombies deleted)`,
        repair.requests,
        "requests",
        requestTarget(repair.actions),
      ),
      figure("repair sweep: wall time", repair.ms, "ms", sweepTargetMs),
      figure(
        `steady sweep: Hetzner requests, max of ${steadyRounds}`,
        steadyRequests,
        "requests",
        requestTarget(0),
      ),
      figure("steady sweep: wall time p50", percentile(steadyMs, 50), "ms", sweepTargetMs),
      figure("steady sweep: wall time p95", percentile(steadyMs, 95), "ms", sweepTargetMs),
      // The count a sweep records must be what the simulator served.
      figure("sweeps whose recorded request count differs from the simulator's", miscounted, "sweeps", 0),
    ];
  } finally {
    await fleet.dispose();
  }
}

if (import.meta.main) {
  const met = printFigures("reconcile", await runReconcileBench());
  process.exit(met ? 0 : 1);
}
