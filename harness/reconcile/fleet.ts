/**
 * A fleet for sweep-cost measurements: a machineless simulator holding `servers` servers with our labels,
 * all but `zombies` of them owned by a ready instance, and a real runtime (broker, SQLite) to sweep it from.
 * Shared by the fleet test and `bench/reconcile.ts`.
 */
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { instances, operations } from "../../db/schema.ts";
import { ownershipLabels, resourceNameFor } from "../../domain/ownership.ts";
import { createRequests } from "../../domain/requests.ts";
import { createHetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { connectSweepBroker } from "../../jobs/reconcile/broker.ts";
import type { SweepDeps } from "../../jobs/reconcile/sweep.ts";
import { createSweepMetrics } from "../../jobs/reconcile/sweep-metrics.ts";
import { brokerConnection } from "../../queue/queue.ts";
import type { RateLimitSettings } from "../../sim/api/rate-limit.ts";
import type { Simulator } from "../../sim/index.ts";
import { type Runtime, startRuntime } from "../runner/harness.ts";
import { startMachinelessSimulator } from "./machineless-sim.ts";
import { EAGER_POLICY, simHetznerFor } from "./sweep-world.ts";

export interface Fleet {
  sim: Simulator;
  runtime: Runtime;
  deps: SweepDeps;
  dispose(): Promise<void>;
}

/** Servers created at once while building the fleet. */
const CREATE_CONCURRENCY = 10;

const fleetInstanceId = (index: number) => `ifleet${String(index).padStart(7, "0")}`;

async function createServers(sim: Simulator, count: number): Promise<number[]> {
  const hetzner = createHetznerClient({
    endpoint: sim.endpoint,
    token: sim.token,
    budget: new RateLimitBudget(),
  });
  const ids: number[] = [];
  for (let start = 0; start < count; start += CREATE_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CREATE_CONCURRENCY, count - start) }, (_, k) => start + k);
    const created = await Promise.all(
      batch.map((index) =>
        hetzner.servers.create({
          name: resourceNameFor(fleetInstanceId(index)),
          serverType: "cx23",
          image: "ubuntu-24.04",
          labels: ownershipLabels(fleetInstanceId(index)),
        }),
      ),
    );
    ids.push(...created.map((c) => c.server.id));
  }
  return ids;
}

/** Ready instances (with a finished provision) on the first `owned` servers; the rest have no instance row. */
function recordOwners(runtime: Runtime, serverIds: readonly number[], owned: number): void {
  const now = Date.now();
  runtime.db.transaction((tx) => {
    serverIds.slice(0, owned).forEach((serverId, index) => {
      const id = fleetInstanceId(index);
      tx.insert(instances)
        .values({
          id,
          customerId: `cust-${id}`,
          status: "ready",
          hetznerServerId: serverId,
          createdAt: now,
          updatedAt: now,
        })
        .run();
      tx.insert(operations)
        .values({
          id: `provision:${id}:1`,
          instanceId: id,
          operation: "provision",
          seq: 1,
          status: "succeeded",
          createdAt: now,
          updatedAt: now,
          finishedAt: now,
        })
        .run();
    });
  });
}

export async function startFleet(options: {
  servers: number;
  zombies: number;
  /** The simulator's rate limit; default Hetzner's (3600 requests, one more a second). */
  rateLimit?: RateLimitSettings;
}): Promise<Fleet> {
  const sim = await startMachinelessSimulator({ timeScale: 0, rateLimit: options.rateLimit });
  const runtime = await startRuntime({ collectLogs: false });
  recordOwners(runtime, await createServers(sim, options.servers), options.servers - options.zombies);
  const broker = connectSweepBroker(brokerConnection(runtime.config));
  const deps: SweepDeps = {
    db: runtime.db,
    hetznerFor: simHetznerFor(sim),
    broker,
    queue: runtime.queue,
    requests: createRequests({ db: runtime.db, queue: runtime.queue }),
    policy: EAGER_POLICY,
    log: createLogger({ level: "silent" }),
    metrics: createSweepMetrics(createMetrics()),
  };
  return {
    sim,
    runtime,
    deps,
    async dispose() {
      await broker.close();
      await runtime.dispose();
      await sim.stop();
    },
  };
}
