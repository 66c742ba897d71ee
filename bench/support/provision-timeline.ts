/**
 * Provisions against a simulated stack for the provision benchmark, and each one's timeline read afterwards
 * from the app database and the simulator (never from polling times, so how often the bench looks does
 * not change a figure).
 */
import { eq, inArray } from "drizzle-orm";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import type { SimulatedStack } from "../../cli/simulated-stack.ts";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations } from "../../db/schema.ts";
import type { createCustomerStore } from "../../domain/customers.ts";
import { summarizeOperation } from "../../domain/operation-progress.ts";
import type { Requests } from "../../domain/requests.ts";
import type { HetznerClient } from "../../hetzner/client.ts";

export interface BenchWorld {
  world: SimulatedStack;
  customers: ReturnType<typeof createCustomerStore>;
  requests: Requests;
  hetzner: HetznerClient;
}

/** One provision's timeline, in epoch ms, and the Hetzner requests it made (when it ran alone). */
export interface ProvisionSample {
  instanceId: string;
  requests: number;
  requestedAt: number;
  /** When the simulator created the server (its `created`). */
  serverCreatedAt: number;
  /** When the machine's phone_home was answered, by the simulator's record. */
  phoneHomeAt: number;
  /** When the api stored the callback. */
  callbackAt: number;
  finishedAt: number;
  /** Each step's duration in the run that succeeded, by step name, in ms. */
  phases: Map<string, number>;
}

/** How often the bench looks for finished operations, in ms: one query for all of them. */
const FINISHED_POLL_MS = 100;
const FINISH_TIMEOUT_MS = 180_000;

/** Provisions one customer per id at once; resolves with their timelines once all have succeeded. */
export async function provisionAll(
  bench: BenchWorld,
  customerIds: readonly string[],
): Promise<ProvisionSample[]> {
  const requested = await Promise.all(
    customerIds.map(async (customerId) => {
      bench.customers.upsert(customerId, fakeCustomerSecrets("bench"));
      const requestedAt = Date.now();
      return { requestedAt, ...(await bench.requests.requestProvision(customerId)) };
    }),
  );
  await awaitFinished(
    bench.world,
    requested.map((request) => request.operationId),
  );
  const requests = bench.world.sim.requests().length;
  return Promise.all(requested.map((request) => readSample(bench, { ...request, requests })));
}

/** Deprovisions the customer's instance; resolves with the Hetzner requests made meanwhile. */
export async function deprovision(bench: BenchWorld, customerId: string): Promise<number> {
  bench.world.sim.clearRequests();
  const deprovision = await bench.requests.requestDeprovision(customerId);
  if (!deprovision) throw new Error(`${customerId} has no live instance to deprovision`);
  await awaitFinished(bench.world, [deprovision.operationId]);
  return bench.world.sim.requests().length;
}

/** Waits until every operation has finished; throws naming the first that failed. */
async function awaitFinished(world: SimulatedStack, operationIds: readonly string[]): Promise<void> {
  const rows = await pollUntil(
    () => {
      const finished = world.db
        .select({ id: operations.id, status: operations.status })
        .from(operations)
        .where(inArray(operations.id, [...operationIds]))
        .all()
        .filter((row) => row.status === "succeeded" || row.status === "failed");
      return finished.length === operationIds.length ? finished : undefined;
    },
    { timeoutMs: FINISH_TIMEOUT_MS, intervalMs: FINISHED_POLL_MS, description: "the bench's operations" },
  );
  const failed = rows.find((row) => row.status === "failed");
  if (failed) {
    const summary = summarizeOperation(world.db, failed.id);
    throw new Error(`${failed.id} failed at ${summary.errorStep}: ${summary.errorMessage}`);
  }
}

async function readSample(
  bench: BenchWorld,
  request: { operationId: string; instanceId: string; requestedAt: number; requests: number },
): Promise<ProvisionSample> {
  const { world } = bench;
  const { operationId, instanceId } = request;
  const finishedAt = world.db
    .select()
    .from(operations)
    .where(eq(operations.id, operationId))
    .get()?.finishedAt;
  const instance = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
  const serverId = instance?.hetznerServerId;
  if (!finishedAt || !instance?.callbackReceivedAt || !serverId)
    throw new Error(`${operationId} has no timeline`);
  const server = await bench.hetzner.servers.get(serverId);
  const phoneHome = world.sim.machines
    .list()
    .find((machine) => machine.serverId === serverId)
    ?.view().cloudInit.phoneHome.deliveredAt;
  if (!server || !phoneHome)
    throw new Error(`server ${serverId} or its phone_home is missing at the simulator`);
  const summary = summarizeOperation(world.db, operationId);
  return {
    instanceId,
    requests: request.requests,
    requestedAt: request.requestedAt,
    serverCreatedAt: Date.parse(server.created),
    phoneHomeAt: Date.parse(phoneHome),
    callbackAt: instance.callbackReceivedAt,
    finishedAt,
    phases: new Map(summary.phases.map((phase) => [phase.step, phase.durationMs])),
  };
}
