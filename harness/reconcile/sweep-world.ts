/**
 * Sweeps against a real world (provisionWorldForFile: broker, SQLite file, simulator with fake machines),
 * plus the drift builders: instance and operation rows, servers at the simulator with our labels, and the
 * subscriptions the payment webhooks would have recorded.
 */
import { eq } from "drizzle-orm";
import { createLogger } from "../../core/log.ts";
import { createMetrics, type MetricsRegistry } from "../../core/metrics.ts";
import { pollUntil } from "../../core/wait.ts";
import type { Db } from "../../db/index.ts";
import { instances, operations, type PaymentState, subscriptions } from "../../db/schema.ts";
import { openOperation } from "../../domain/operations.ts";
import { ownershipLabels, resourceNameFor } from "../../domain/ownership.ts";
import { newInstanceId } from "../../domain/requests.ts";
import { createHetznerClient, RateLimitBudget, type Server } from "../../hetzner/index.ts";
import { connectSweepBroker, type SweepBroker } from "../../jobs/reconcile/broker.ts";
import { runSweep, type SweepDeps } from "../../jobs/reconcile/sweep.ts";
import { createSweepMetrics } from "../../jobs/reconcile/sweep-metrics.ts";
import type { SweepResult } from "../../jobs/reconcile/sweep-store.ts";
import type { SweepPolicy } from "../../jobs/reconcile/types.ts";
import { brokerConnection } from "../../queue/queue.ts";
import type { Simulator } from "../../sim/index.ts";
import type { ProvisionWorld } from "../provision-job/world.ts";

/** Acts on everything at once: no grace for zombies, no patience for operations without a broker job. */
export const EAGER_POLICY: SweepPolicy = { zombieGraceMs: 0, stuckAfterMs: 0, reprovisionLost: false };

/** A Hetzner client per simulator project, each with its own budget, reporting each request to the sweep's counter. */
export function simHetznerFor(sim: Simulator): SweepDeps["hetznerFor"] {
  return (onRequest) => ({
    all: sim.projects.map(({ name, token }) => ({
      name,
      client: createHetznerClient({
        endpoint: sim.endpoint,
        token,
        budget: new RateLimitBudget(),
        retry: { startingDelayMs: 20, maxDelayMs: 200 },
        onRequest: (event) => onRequest(name, event),
      }),
    })),
  });
}

export interface Sweeper {
  broker: SweepBroker;
  metrics: MetricsRegistry;
  deps: SweepDeps;
  /** Runs one sweep now, as the worker would, and returns what it recorded. */
  sweep(options?: { dryRun?: boolean }): Promise<SweepResult & { id: string }>;
}

let sweepCount = 0;

export function sweeperFor(world: ProvisionWorld, policy: SweepPolicy = EAGER_POLICY): Sweeper {
  const broker = connectSweepBroker(brokerConnection(world.runtime.config));
  const metrics = createMetrics();
  const deps: SweepDeps = {
    db: world.runtime.db,
    hetznerFor: simHetznerFor(world.sim),
    broker,
    queue: world.runtime.queue,
    requests: world.requests,
    policy,
    log: createLogger({ level: "silent" }),
    metrics: createSweepMetrics(metrics),
  };
  return {
    broker,
    metrics,
    deps,
    async sweep(options = {}) {
      sweepCount += 1;
      const id = `test-sweep-${sweepCount}`;
      const run = await runSweep(deps, {
        id,
        trigger: "operator",
        dryRun: options.dryRun ?? false,
        requestedAt: Date.now(),
      });
      if (run.kind !== "ran") throw new Error(`sweep ${id} did not run: ${JSON.stringify(run)}`);
      return { ...run.result, id };
    },
  };
}

/** An instance row as a provision would have left it. */
export function insertInstance(
  db: Db,
  row: { customerId: string | null; status: string; hetznerServerId?: number | null; id?: string },
): string {
  const id = row.id ?? newInstanceId();
  const now = Date.now();
  db.insert(instances)
    .values({
      id,
      customerId: row.customerId,
      status: row.status,
      hetznerServerId: row.hetznerServerId ?? null,
      serverName: resourceNameFor(id),
      createdAt: now,
      updatedAt: now,
    })
    .run();
  return id;
}

/** Records an operation (no broker job) and sets its status; returns its id. */
export function insertOperation(db: Db, instanceId: string, operation: string, status: string): string {
  const { id } = openOperation(db, operation, instanceId, Date.now());
  db.update(operations)
    .set({ status: status as typeof operations.$inferSelect.status })
    .where(eq(operations.id, id))
    .run();
  return id;
}

/** What the payment webhooks record for a customer's subscription (one per customer unless named). */
export function subscribe(
  db: Db,
  customerId: string,
  state: PaymentState,
  subscriptionId = `sub-${customerId}`,
): void {
  const now = Date.now();
  db.insert(subscriptions)
    .values({
      provider: "test",
      subscriptionId,
      customerId,
      paymentState: state,
      eventId: `evt-${subscriptionId}-${state}`,
      eventOccurredAt: now,
      updatedAt: now,
    })
    .run();
}

/**
 * A server at the simulator carrying the instance's name and ownership labels, once it runs, as an old
 * drifted server would (while being created Hetzner answers a delete 423 locked, and its status moves on).
 */
export async function createOwnedServer(world: ProvisionWorld, instanceId: string): Promise<Server> {
  const { server } = await world.hetzner.servers.create({
    name: resourceNameFor(instanceId),
    serverType: "cx23",
    image: "ubuntu-24.04",
    labels: ownershipLabels(instanceId),
  });
  return pollUntil(
    async () => {
      const current = await world.hetzner.servers.get(server.id);
      return current?.status === "running" ? current : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 20, description: `server ${server.id} to run` },
  );
}

export function instanceRow(db: Db, id: string) {
  const row = db.select().from(instances).where(eq(instances.id, id)).get();
  if (!row) throw new Error(`no instance ${id}`);
  return row;
}

export function operationRow(db: Db, id: string) {
  const row = db.select().from(operations).where(eq(operations.id, id)).get();
  if (!row) throw new Error(`no operation ${id}`);
  return row;
}

/** The decisions as `kind subject` lines, for readable assertions. */
export function summarize(decisions: SweepResult["decisions"]): string[] {
  return decisions.map((d) => {
    const subject = d.kind === "enqueue-provision" ? d.customerId : d.instanceId;
    return `${d.kind} ${subject} ${d.outcome}`;
  });
}
