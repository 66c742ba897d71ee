/**
 * Provisioning end to end against the simulator with real broker, api and worker processes: Hetzner
 * requests per provision and per deprovision (the simulator's request log), and what the provisioner itself
 * adds to a provision, one at a time and 50 at once. `bun run bench provision`.
 *
 * The provisioner is what is measured, not the stand-in machines it provisions. A provision's wall time is
 * split into waits on the simulator and its machines and the rest, which is the provisioner's own added
 * latency (its queue, steps, database and SSH client): waits are the server's life from its creation to the
 * callback (create and start actions, boot, cloud-init, phone_home: all the simulator's) and the two steps
 * whose work runs on the machine over SSH (inject-secrets, verify, which includes the configured settle).
 * Beside it, the CPU the provisioner's processes (api, worker, broker) used per provision. The stand-in
 * machines share this box's cores and so slow everything here; their CPU is printed as context only.
 *
 * 50 at once is judged at a time scale whose configured latencies leave the 50 machines room for their own
 * first-boot work on this box's cores, as on Hetzner, where each server boots on CPUs of its own. The run at
 * the one-at-a-time scale is printed, unjudged.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSimulatedStack } from "../cli/simulated-stack.ts";
import { createCustomerStore } from "../domain/customers.ts";
import { createRequests } from "../domain/requests.ts";
import { createHetznerClient } from "../hetzner/client.ts";
import { RateLimitBudget } from "../hetzner/rate-limit.ts";
import { DEFAULT_TIMINGS } from "../sim/index.ts";
import { readProcesses, treeCpuMs } from "./support/cpu-time.ts";
import { type BenchFigure, figure, percentile, printFigures } from "./support/figures.ts";
import {
  type BenchWorld,
  deprovision,
  type ProvisionSample,
  provisionAll,
} from "./support/provision-timeline.ts";

/** Time scale of the one-at-a-time runs: create, start and boot take 6.96 s instead of 87 s. */
const TIME_SCALE = 0.08;
/** Time scale of the judged 50-at-once run: 8 s of boot, 69.6 s in all, instead of 87 s (see the note above). */
const CONCURRENT_TIME_SCALE = 0.8;
/** VERIFY_SETTLE_MS for the bench: a configured wait, inside verify's time on the machine. */
const VERIFY_SETTLE_MS = 200;
const SEQUENTIAL_PROVISIONS = 10;
/** SSH key, server, delete protection (the firewall exists by then). */
const PROVISION_REQUEST_TARGET = 3;
/** Lift the protection, delete the server, one action check, delete the key. */
const DEPROVISION_REQUEST_TARGET = 4;
const CONCURRENT_PROVISIONS = 50;
/** The steps whose work runs on the machine, over SSH. */
const ON_MACHINE_STEPS = ["inject-secrets", "verify"];
/** Configured create, start and cloud-init latencies at `timeScale`, in ms. */
function simulatedBootMs(timeScale: number): number {
  const { createServerMs, startServerMs, cloudInitMs } = DEFAULT_TIMINGS;
  return (createServerMs + startServerMs + cloudInitMs) * timeScale;
}

export async function runProvisionBench(): Promise<BenchFigure[]> {
  return [
    ...(await withBenchWorld(TIME_SCALE, measureAtCompressedScale)),
    ...(await withBenchWorld(CONCURRENT_TIME_SCALE, async (bench) => {
      // As in production, the shared firewall exists and the services have run before.
      await provisionAlone(bench, "bench-warm-up");
      return measureConcurrent(bench, CONCURRENT_TIME_SCALE, 2000);
    })),
  ];
}

/** Runs `measure` against a fresh simulated stack at `timeScale`, torn down afterwards. */
async function withBenchWorld(
  timeScale: number,
  measure: (bench: BenchWorld) => Promise<BenchFigure[]>,
): Promise<BenchFigure[]> {
  const dataDir = mkdtempSync(join(tmpdir(), "rachel-bench-"));
  const world = await startSimulatedStack({
    dataDir,
    timeScale,
    // The stack's 60 s cloud-init deadline is for the demo; 50 boots at 0.8 take 70 s of configured latency alone.
    env: { LOG_LEVEL: "warn", VERIFY_SETTLE_MS: String(VERIFY_SETTLE_MS), CLOUD_INIT_TIMEOUT_MS: "300000" },
    onLine: (service, line) => process.stderr.write(`[${service}] ${line}\n`),
  });
  try {
    const bench = {
      world,
      customers: createCustomerStore({ db: world.db, sealer: world.sealer }),
      requests: createRequests({ db: world.db, queue: world.queue }),
      hetzner: createHetznerClient({
        endpoint: world.sim.endpoint,
        token: world.sim.token,
        budget: new RateLimitBudget(),
      }),
    };
    return await measure(bench);
  } finally {
    await world.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Requests, the provisioner's part of one provision at a time, and 50 at once at the compressed scale, unjudged. */
async function measureAtCompressedScale(bench: BenchWorld): Promise<BenchFigure[]> {
  // The first provision also creates the shared control-plane firewall; it is reported on its own.
  const [first] = await provisionAlone(bench, "bench-first");
  const cpuBefore = cpuSplit(bench);
  const sequential: ProvisionSample[] = [];
  for (let i = 0; i < SEQUENTIAL_PROVISIONS; i++)
    sequential.push(...(await provisionAlone(bench, `bench-seq-${i}`)));
  const cpuAfter = cpuSplit(bench);
  const deprovisionRequests: number[] = [];
  for (let i = 0; i < SEQUENTIAL_PROVISIONS; i++)
    deprovisionRequests.push(await deprovision(bench, `bench-seq-${i}`));
  const label = `one at a time (${SEQUENTIAL_PROVISIONS})`;
  return [
    figure(
      "Hetzner requests, first provision (creates the shared firewall)",
      first?.requests ?? Number.NaN,
      "",
    ),
    figure(
      "Hetzner requests per provision (max of later ones)",
      max(sequential.map((s) => s.requests)),
      "",
      PROVISION_REQUEST_TARGET,
    ),
    figure(
      "Hetzner requests per deprovision (max)",
      max(deprovisionRequests),
      "",
      DEPROVISION_REQUEST_TARGET,
    ),
    ...latencyFigures(label, sequential, 500),
    ...cpuFigures(label, cpuBefore, cpuAfter, SEQUENTIAL_PROVISIONS),
    ...(await measureConcurrent(bench, TIME_SCALE)),
  ];
}

/** 50 provisions at once: the provisioner's added latency (judged against `targetMs` when given) and CPU. */
async function measureConcurrent(
  bench: BenchWorld,
  timeScale: number,
  targetMs?: number,
): Promise<BenchFigure[]> {
  const cpuBefore = cpuSplit(bench);
  const ids = Array.from({ length: CONCURRENT_PROVISIONS }, (_, i) => `bench-par-${i}`);
  const concurrent = await provisionAll(bench, ids);
  const cpuAfter = cpuSplit(bench);
  const label = `${CONCURRENT_PROVISIONS} at once, time scale ${timeScale} (configured latencies ${simulatedBootMs(timeScale)} ms)`;
  return [
    ...latencyFigures(label, concurrent, targetMs),
    ...cpuFigures(label, cpuBefore, cpuAfter, CONCURRENT_PROVISIONS),
  ];
}

/** A provision with nothing else running, counting its Hetzner requests. */
function provisionAlone(bench: BenchWorld, customerId: string): Promise<ProvisionSample[]> {
  bench.world.sim.clearRequests();
  return provisionAll(bench, [customerId]);
}

/**
 * The provisioner's added latency (judged against `targetMs` when given): wall time minus the waits on the
 * simulator and its machines; then those waits, and each step's time for where it goes.
 */
function latencyFigures(
  label: string,
  samples: readonly ProvisionSample[],
  targetMs?: number,
): BenchFigure[] {
  const wall = samples.map((s) => s.finishedAt - s.requestedAt);
  const waits = samples.map(
    (s) =>
      s.callbackAt -
      s.serverCreatedAt +
      ON_MACHINE_STEPS.reduce((sum, step) => sum + (s.phases.get(step) ?? Number.NaN), 0),
  );
  const added = wall.map((value, i) => value - (waits[i] ?? Number.NaN));
  return [
    figure(`provisioner's added latency p50, ${label}`, percentile(added, 50), "ms"),
    figure(`provisioner's added latency p95, ${label}`, percentile(added, 95), "ms", targetMs),
    figure(`  time to ready p95 (context)`, percentile(wall, 95), "ms"),
    figure(`  of which waiting on the simulator and its machines, p95`, percentile(waits, 95), "ms"),
    ...[...(samples[0]?.phases.keys() ?? [])].map((step) =>
      figure(
        `  phase ${step}${ON_MACHINE_STEPS.includes(step) ? " (on the machine)" : ""}, p95`,
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

/** CPU ms used so far, split: the provisioner's processes, this process (simulator and bench), the rest (machines). */
interface CpuSplit {
  provisioner: number;
  simulator: number;
  machines: number;
}

function cpuSplit(bench: BenchWorld): CpuSplit {
  const processes = readProcesses();
  const services = [...bench.world.stack.services.values()].map((service) => service.pid);
  const provisioner = services.reduce((sum, pid) => sum + treeCpuMs(processes, pid), 0);
  const self = processes.find((entry) => entry.pid === process.pid);
  const simulator = self?.ownMs ?? 0;
  return { provisioner, simulator, machines: treeCpuMs(processes, process.pid, services) - simulator };
}

/** CPU per provision of a run: the provisioner's (judged by nobody yet: a figure to watch), then, as context, the rest. */
function cpuFigures(label: string, before: CpuSplit, after: CpuSplit, provisions: number): BenchFigure[] {
  const per = (key: keyof CpuSplit) => (after[key] - before[key]) / provisions;
  return [
    figure(`provisioner CPU per provision (api, worker, broker), ${label}`, per("provisioner"), "ms"),
    figure(`  stand-in machines' CPU per provision (context)`, per("machines"), "ms"),
    figure(`  simulator and bench process CPU per provision (context)`, per("simulator"), "ms"),
  ];
}

if (import.meta.main) {
  const met = printFigures(
    "provision (the provisioner's added latency: time to ready minus its waits on the simulator and machines)",
    await runProvisionBench(),
  );
  process.exit(met ? 0 : 1);
}
