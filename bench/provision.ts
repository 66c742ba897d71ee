/**
 * Provisioning end to end against the simulator with real broker, api and worker processes: Hetzner
 * requests per provision and per deprovision (the simulator's request log), and orchestration overhead as
 * issue 4 defines it, i.e. time-to-ready minus the simulator's configured create, start and cloud-init
 * latencies, for one provision at a time and for 50 at once, split so a reader sees which part is the
 * simulator's own work on this box and which the provisioner's. `bun bench/provision.ts`.
 * SSH round trips per injection are measured against a real sshd by bench/inject.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { fakeCustomerSecrets } from "../cli/demo-customer.ts";
import { followOperation } from "../cli/follow-operation.ts";
import { type SimulatedStack, startSimulatedStack } from "../cli/simulated-stack.ts";
import { instances, operations } from "../db/schema.ts";
import { createHetznerClient, type HetznerClient } from "../hetzner/client.ts";
import { createCustomerStore } from "../jobs/customers.ts";
import type { OperationSummary } from "../jobs/operation-progress.ts";
import { RACHEL8_UNIT_NAME } from "../jobs/provision/rachel8.ts";
import { sshPrivateKeyContext } from "../jobs/provision/steps/instance-row.ts";
import { APP_USER } from "../jobs/provision/steps/ownership.ts";
import { connectPinned } from "../jobs/remote/ssh.ts";
import { createRequests, type Requests } from "../jobs/requests.ts";
import { DEFAULT_TIMINGS } from "../sim/index.ts";
import { type BenchFigure, figure, percentile, printFigures } from "./support/figures.ts";

const TIME_SCALE = 0.02;
/** VERIFY_SETTLE_MS for the bench: the provisioner's own configured wait, so part of the overhead. */
const VERIFY_SETTLE_MS = 200;
const SEQUENTIAL_PROVISIONS = 10;
const CONCURRENT_PROVISIONS = 50;
/** Configured create, start and cloud-init latencies at the bench's scale, in ms: all the overhead excludes. */
const SIMULATED_BOOT_MS =
  (DEFAULT_TIMINGS.createServerMs + DEFAULT_TIMINGS.startServerMs + DEFAULT_TIMINGS.cloudInitMs) * TIME_SCALE;

interface Bench {
  world: SimulatedStack;
  customers: ReturnType<typeof createCustomerStore>;
  requests: Requests;
  hetzner: HetznerClient;
}

export async function runProvisionBench(): Promise<BenchFigure[]> {
  const dataDir = mkdtempSync(join(tmpdir(), "rachel-bench-"));
  const world = await startSimulatedStack({
    dataDir,
    timeScale: TIME_SCALE,
    env: { LOG_LEVEL: "warn", VERIFY_SETTLE_MS: String(VERIFY_SETTLE_MS) },
    onLine: (service, line) => process.stderr.write(`[${service}] ${line}\n`),
  });
  try {
    const bench = {
      world,
      customers: createCustomerStore({ db: world.db, sealer: world.sealer }),
      requests: createRequests({ db: world.db, queue: world.queue }),
      hetzner: createHetznerClient({ endpoint: world.sim.endpoint, token: world.sim.token }),
    };
    return await measure(bench);
  } finally {
    await world.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One provision's timeline, in epoch ms, and the Hetzner requests it made (when it ran alone). */
interface ProvisionSample {
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

async function measure(bench: Bench): Promise<BenchFigure[]> {
  // The first provision also creates the shared control-plane firewall; it is reported on its own.
  const first = await provisionAlone(bench, "bench-first");
  const sequential: ProvisionSample[] = [];
  for (let i = 0; i < SEQUENTIAL_PROVISIONS; i++)
    sequential.push(await provisionAlone(bench, `bench-seq-${i}`));
  const sshCost = await simulatedSshCost(bench, sequential);
  const deprovisionRequests: number[] = [];
  for (let i = 0; i < SEQUENTIAL_PROVISIONS; i++) {
    deprovisionRequests.push(await deprovisionCounted(bench, `bench-seq-${i}`));
  }
  const concurrent = await Promise.all(
    Array.from({ length: CONCURRENT_PROVISIONS }, (_, i) => provision(bench, `bench-par-${i}`)),
  );
  return [
    figure("Hetzner requests, first provision (creates the shared firewall)", first.requests, ""),
    figure(
      "Hetzner requests per provision (max of later ones)",
      max(sequential.map((s) => s.requests)),
      "",
      3,
    ),
    figure("Hetzner requests per deprovision (max)", max(deprovisionRequests), "", 3),
    ...overheadFigures(`one at a time (${SEQUENTIAL_PROVISIONS})`, sequential, 500),
    ...sshCost,
    ...overheadFigures(`${CONCURRENT_PROVISIONS} at once`, concurrent, 2000),
  ];
}

/**
 * The overhead (time to ready minus the configured boot and cloud-init latencies) with its target,
 * and where it goes: the simulator's own boot work beyond those latencies (sandbox, first-boot commands,
 * phone_home, all on this box's cores), the configured settle period, and what is left for orchestration
 * and the remote commands (whose systemctl and app start also run on the simulator's machine here).
 */
function overheadFigures(
  label: string,
  samples: readonly ProvisionSample[],
  targetMs: number,
): BenchFigure[] {
  const overhead = samples.map((s) => s.finishedAt - s.requestedAt - SIMULATED_BOOT_MS);
  const simulatorWork = samples.map((s) => s.phoneHomeAt - s.serverCreatedAt - SIMULATED_BOOT_MS);
  const orchestration = overhead.map((value, i) => value - (simulatorWork[i] ?? 0) - VERIFY_SETTLE_MS);
  const afterCallback = samples.map((s) => s.finishedAt - s.callbackAt);
  return [
    figure(`overhead p50, ${label}`, percentile(overhead, 50), "ms"),
    figure(`overhead p95, ${label}`, percentile(overhead, 95), "ms", targetMs),
    figure(`  of which simulator boot work beyond its latencies, p95`, percentile(simulatorWork, 95), "ms"),
    figure(`  of which verify settle period (VERIFY_SETTLE_MS)`, VERIFY_SETTLE_MS, "ms"),
    figure(
      `  orchestration and remote commands (overhead minus both), p95`,
      percentile(orchestration, 95),
      "ms",
    ),
    figure(
      `  callback to ready (resume, inject, verify with settle), p95`,
      percentile(afterCallback, 95),
      "ms",
    ),
    ...[...(samples[0]?.phases.keys() ?? [])].map((step) =>
      figure(
        `  phase ${step}, p95`,
        percentile(
          samples.map((s) => s.phases.get(step) ?? Number.NaN),
          95,
        ),
        "ms",
      ),
    ),
  ];
}

function max(values: readonly number[]): number {
  return Math.max(...values);
}

/** A provision with nothing else running, counting its Hetzner requests. */
async function provisionAlone(bench: Bench, customerId: string): Promise<ProvisionSample> {
  bench.world.sim.clearRequests();
  return provision(bench, customerId);
}

/** Requests a provision, waits for it, and reads its timeline from the app database and the simulator. */
async function provision(bench: Bench, customerId: string): Promise<ProvisionSample> {
  const { world } = bench;
  bench.customers.upsert(customerId, fakeCustomerSecrets("bench"));
  const requestedAt = Date.now();
  const { operationId, instanceId } = await bench.requests.requestProvision(customerId);
  const summary = await finishOrThrow(world, operationId);
  const requests = world.sim.requests().length;
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
  return {
    instanceId,
    requests,
    requestedAt,
    serverCreatedAt: Date.parse(server.created),
    phoneHomeAt: Date.parse(phoneHome),
    callbackAt: instance.callbackReceivedAt,
    finishedAt,
    phases: new Map(summary.phases.map((phase) => [phase.step, phase.durationMs])),
  };
}

/**
 * What one SSH handshake and one short command cost against a simulated machine, measured alone: the
 * machines' SSH server and shell run on this box (the simulator is in this process), so this part of the
 * inject-secrets and verify phases is the simulator's work, not the provisioner's.
 */
async function simulatedSshCost(bench: Bench, samples: readonly ProvisionSample[]): Promise<BenchFigure[]> {
  const handshakes: number[] = [];
  const execs: number[] = [];
  for (const { instanceId } of samples) {
    const row = bench.world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    if (!row?.ipv4 || !row.sshPrivateKey || !row.reportedHostKey)
      throw new Error(`${instanceId} has no address or keys`);
    const started = performance.now();
    const session = await connectPinned({
      host: row.ipv4,
      port: bench.world.config.sshPort,
      username: APP_USER,
      privateKey: bench.world.sealer.open(row.sshPrivateKey, sshPrivateKeyContext(instanceId)),
      expectedHostKey: row.reportedHostKey,
    });
    const connected = performance.now();
    await session.exec(`systemctl is-active ${RACHEL8_UNIT_NAME}`).finally(() => session.close());
    handshakes.push(connected - started);
    execs.push(performance.now() - connected);
  }
  return [
    figure("  simulated machine alone: SSH handshake, p50", percentile(handshakes, 50), "ms"),
    figure("  simulated machine alone: one exec (systemctl is-active), p50", percentile(execs, 50), "ms"),
  ];
}

async function deprovisionCounted(bench: Bench, customerId: string): Promise<number> {
  bench.world.sim.clearRequests();
  const deprovision = await bench.requests.requestDeprovision(customerId);
  if (!deprovision) throw new Error(`${customerId} has no live instance to deprovision`);
  await finishOrThrow(bench.world, deprovision.operationId);
  return bench.world.sim.requests().length;
}

async function finishOrThrow(world: SimulatedStack, operationId: string): Promise<OperationSummary> {
  const summary = await followOperation(world.db, operationId, {
    timeoutMs: 120_000,
    onStep: () => undefined,
  });
  if (summary.status !== "succeeded") {
    throw new Error(`${operationId} failed at ${summary.errorStep}: ${summary.errorMessage}`);
  }
  return summary;
}

if (import.meta.main) {
  const met = printFigures(
    `provision (simulator time scale ${TIME_SCALE}; configured boot and cloud-init latencies subtracted: ${SIMULATED_BOOT_MS} ms)`,
    await runProvisionBench(),
  );
  process.exit(met ? 0 : 1);
}
