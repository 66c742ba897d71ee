/**
 * A fleet's worth of paid customers against Hetzner's request budgets: 1,500 customers over 4 simulated
 * projects of 300 servers each (so 300 must wait), every budget 3600/h starting empty, time compressed
 * with the refill rate scaled alike (simulator and provisioner's client), machineless servers (the
 * simulator answers callback and SSH itself: this measures the provisioner, not machines).
 * `bun bench/fleet.ts`.
 *
 * Judged: every customer ends ready or waiting_for_capacity, none failed (for limits, 429 or anything),
 * no server limit hit at Hetzner (429s are counted and listed: the client retries one); completions per
 * budget-hour against the ideal `projects × 3600 / measured requests per provision` (all requests the
 * provisions made, the one-off firewall and delete protection included; the sweep's are counted apart);
 * one sweep pass per project at `ceil(servers / 50) + 1` requests plus its actions. The rate is taken over
 * the whole run (see throughputFigures).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { and, gte, inArray, sql } from "drizzle-orm";
import { fakeCustomerSecrets } from "../cli/demo-customer.ts";
import { type SimulatedStack, startSimulatedStack } from "../cli/simulated-stack.ts";
import { pollUntil } from "../core/wait.ts";
import { instances, operations, sweeps } from "../db/schema.ts";
import { createCustomerStore } from "../domain/customers.ts";
import { createRequests } from "../domain/requests.ts";
import type { SimProjectOptions } from "../sim/index.ts";
import { readProcesses, treeCpuMs } from "./support/cpu-time.ts";
import { type BenchFigure, figure, printFigures } from "./support/figures.ts";
import {
  formatRequestCounts,
  formatTimeline,
  type TimelineInput,
  unspentRequests,
} from "./support/fleet-timeline.ts";

const PROJECTS = 4;
const SERVER_LIMIT = 300;
const CUSTOMERS = 1500;
/** Hetzner's budget: 3600 requests, one back per second. */
const BUDGET = 3600;
/**
 * Simulated durations and the refill run this much faster: a budget-hour lasts 900 s. The work after the
 * callbacks (inject, verify, protect) bunches at the end of the run, where the budgets allow 16 completions
 * a second; at a tenth (40 a second) a host busy with other work fell behind the budget (80-98% of the ideal
 * in runs on this 2-core box), which measured the box, not the provisioner's use of its budget.
 */
const TIME_SCALE = 0.25;
/** The share of the ideal rate the run must reach, in percent. */
const TARGET_PERCENT = 90;
/** Hetzner's own sweep cadence, 5 min, in compressed time. */
const SWEEP_INTERVAL_MS = 300_000 * TIME_SCALE;
const SETTLE_TIMEOUT_MS = 1_200_000;
const BUDGET_HOUR_MS = 3_600_000 * TIME_SCALE;

const projectName = (index: number) => (index === 0 ? "default" : `fleet-${index + 1}`);

/** The simulator's projects: limit 300, a budget starting spent and refilling at the compressed rate. */
/** A project's budget: Hetzner's, refilling at the compressed rate, spent. */
const SPENT_BUDGET = { capacity: BUDGET, refillPerSecond: 1 / TIME_SCALE, initialTokens: 0 };

function simulatedProjects(): { rateLimit: SimProjectOptions["rateLimit"]; extra: SimProjectOptions[] } {
  const rateLimit = SPENT_BUDGET;
  const extra = Array.from({ length: PROJECTS - 1 }, (_, i) => ({
    name: projectName(i + 1),
    token: `fleet-token-${i + 2}`,
    serverLimit: SERVER_LIMIT,
    rateLimit,
  }));
  return { rateLimit, extra };
}

async function startFleetWorld(dataDir: string): Promise<SimulatedStack> {
  const { rateLimit, extra } = simulatedProjects();
  return startSimulatedStack({
    dataDir,
    timeScale: TIME_SCALE,
    machines: "machineless",
    simulator: { serverLimit: SERVER_LIMIT, rateLimit, projects: extra },
    env: {
      // Each waiting provision warns once; 300 of them are expected here.
      LOG_LEVEL: "error",
      // The provisioner paces itself by the refill it expects: the compressed one.
      HCLOUD_RATE_LIMIT_REFILL_PER_SECOND: String(1 / TIME_SCALE),
      VERIFY_SETTLE_MS: String(5000 * TIME_SCALE),
      CLOUD_INIT_TIMEOUT_MS: "1800000",
      RECONCILE_INTERVAL_MS: String(SWEEP_INTERVAL_MS),
    },
    onLine: (service, line) => process.stderr.write(`[${service}] ${line}\n`),
  });
}

interface FleetRun {
  startedAt: number;
  /** Finish times of the provisions that succeeded, ascending. */
  completions: number[];
  byStatus: Map<string, number>;
  /** Requests the simulator served during the run, and how many of them were the sweeps'. */
  requests: number;
  sweepRequests: number;
  /** The 429s: when (ms into the run), which project and path. */
  rateLimited: string[];
  limitRefusals: number;
  /** CPU ms the run took: the provisioner's processes (api, worker, broker) and this one (simulator, bench). */
  cpu: { provisioner: number; simulator: number };
  /** What the budget went to, slice by slice. */
  timeline: TimelineInput;
}

/** Every customer paid at once; resolves once each is ready or waiting and nothing else moves. */
async function provisionFleet(world: SimulatedStack): Promise<FleetRun> {
  const customers = createCustomerStore({ db: world.db, sealer: world.sealer });
  const requests = createRequests({ db: world.db, queue: world.queue });
  const ids = Array.from({ length: CUSTOMERS }, (_, i) => `fleet-${i}`);
  for (const id of ids) customers.upsert(id, fakeCustomerSecrets("fleet"));
  world.sim.clearRequests();
  // The budgets refilled while the services started: spent again, the run pays for every request it makes.
  for (let i = 0; i < PROJECTS; i++) world.sim.setRateLimit(SPENT_BUDGET, projectName(i));
  const cpuBefore = cpuSplit(world);
  const startedAt = Date.now();
  const operationIds: string[] = [];
  for (const id of ids) operationIds.push((await requests.requestProvision(id)).operationId);
  const progress = setInterval(() => reportProgress(world, startedAt), 10_000);
  const byStatus = await pollUntil(() => settled(world), {
    timeoutMs: SETTLE_TIMEOUT_MS,
    intervalMs: 1000,
    description: "every customer ready or waiting for capacity",
  }).finally(() => clearInterval(progress));
  const cpuAfter = cpuSplit(world);
  const log = world.sim.requests();
  const finished = world.db
    .select({ finishedAt: operations.finishedAt })
    .from(operations)
    .where(and(inArray(operations.id, operationIds), sql`${operations.status} = 'succeeded'`))
    .all();
  const callbacks = world.db
    .select({ at: instances.callbackReceivedAt })
    .from(instances)
    .where(gte(instances.callbackReceivedAt, startedAt))
    .all()
    .map((row) => row.at ?? 0);
  // Every sweep that finished during the run, one the services started before it included.
  const swept = world.db
    .select({ requests: sql<number>`coalesce(sum(${sweeps.hetznerRequests}), 0)` })
    .from(sweeps)
    .where(gte(sweeps.finishedAt, startedAt))
    .get();
  const completions = finished.map((row) => row.finishedAt ?? Number.NaN).sort((a, b) => a - b);
  return {
    startedAt,
    completions,
    byStatus,
    requests: log.length,
    sweepRequests: swept?.requests ?? 0,
    rateLimited: log
      .filter((entry) => entry.status === 429)
      .map((entry) => `${entry.at - startedAt} ms ${entry.project} ${entry.method} ${entry.path}`),
    limitRefusals: log.filter((entry) => entry.status === 403 && entry.path === "/servers").length,
    cpu: {
      provisioner: cpuAfter.provisioner - cpuBefore.provisioner,
      simulator: cpuAfter.simulator - cpuBefore.simulator,
    },
    timeline: {
      startedAt,
      callbacks,
      completions,
      requests: log,
      refillPerMs: (PROJECTS * BUDGET) / BUDGET_HOUR_MS,
      sliceMs: BUDGET_HOUR_MS / 50,
      unitMs: BUDGET_HOUR_MS,
    },
  };
}

function cpuSplit(world: SimulatedStack): FleetRun["cpu"] {
  const processes = readProcesses();
  const services = [...world.stack.services.values()].map((service) => service.pid);
  return {
    provisioner: services.reduce((sum, pid) => sum + treeCpuMs(processes, pid), 0),
    simulator: processes.find((entry) => entry.pid === process.pid)?.ownMs ?? 0,
  };
}

/** One stderr line: elapsed budget-hours, customers by status, requests served. */
function reportProgress(world: SimulatedStack, startedAt: number): void {
  const counts = world.db
    .select({ status: instances.status, count: sql<number>`count(*)` })
    .from(instances)
    .groupBy(instances.status)
    .all()
    .map((row) => `${row.status} ${row.count}`)
    .join(", ");
  const hours = ((Date.now() - startedAt) / BUDGET_HOUR_MS).toFixed(3);
  process.stderr.write(`fleet: ${hours} budget-hours: ${counts}; ${world.sim.requests().length} requests\n`);
}

/** Instance counts by status once every customer is ready, waiting or failed; undefined while any moves. */
function settled(world: SimulatedStack): Map<string, number> | undefined {
  const rows = world.db
    .select({ status: instances.status, count: sql<number>`count(*)` })
    .from(instances)
    .groupBy(instances.status)
    .all();
  const byStatus = new Map(rows.map((row) => [row.status, row.count]));
  const ended = ["ready", "waiting_for_capacity", "failed"].reduce((n, s) => n + (byStatus.get(s) ?? 0), 0);
  const waiting = byStatus.get("waiting_for_capacity") ?? 0;
  const room = PROJECTS * SERVER_LIMIT;
  // Waiting is an end only once the projects are full: before, a waiting one is about to be let in.
  const full = (byStatus.get("ready") ?? 0) + (byStatus.get("failed") ?? 0) >= Math.min(room, CUSTOMERS);
  return ended === CUSTOMERS && (waiting === 0 || full) ? byStatus : undefined;
}

/**
 * The rate over the whole run, first request to last completion: the budgets start empty, so the run can
 * take no less than the budget-hours its requests need, and the ratio of the two is the rate's share of the
 * ideal. A window between completions would flatter it: the protection requests come last, so completions
 * bunch at the end while the budget was busy all along.
 */
function throughputFigures(run: FleetRun): BenchFigure[] {
  const done = run.completions.length;
  const provisionRequests = run.requests - run.sweepRequests;
  const perProvision = provisionRequests / done;
  const ideal = (PROJECTS * BUDGET) / perProvision;
  const tookHours = ((run.completions.at(-1) ?? Number.NaN) - run.startedAt) / BUDGET_HOUR_MS;
  const rate = done / tookHours;
  return [
    figure("Hetzner requests during the run (provisions and sweeps)", run.requests, ""),
    figure("  of which the scheduled sweeps'", run.sweepRequests, ""),
    figure("measured requests per provision (firewalls and protection included)", perProvision, ""),
    figure(
      `ideal completions per budget-hour (${PROJECTS} × ${BUDGET} / requests per provision)`,
      ideal,
      "/h",
    ),
    figure("completions per budget-hour, first request to last completion", rate, "/h"),
    figure("budget-minutes the run took", tookHours * 60, "min"),
    figure("  requests the refill offered that nothing asked for", unspentRequests(run.timeline), ""),
    // Whether this box kept up: CPU seconds per real second of the run, against its cores.
    figure("CPU per provision: provisioner (api, worker, broker)", run.cpu.provisioner / done, "ms"),
    figure(
      "CPU per provision: simulator and its machineless servers (this process)",
      run.cpu.simulator / done,
      "ms",
    ),
    figure("host load average at the end (1 min; the bench shares the host)", loadavg()[0] ?? Number.NaN, ""),
    figure(
      "CPU busy over the run (both), in cores",
      (run.cpu.provisioner + run.cpu.simulator) / (tookHours * BUDGET_HOUR_MS),
      "",
    ),
    figure(
      "budget-minutes the provisions' requests need at the refill alone",
      (provisionRequests / (PROJECTS * BUDGET)) * 60,
      "min",
    ),
    figure(
      `shortfall from the ideal (target: at least ${TARGET_PERCENT}% of it)`,
      100 * (1 - rate / ideal),
      "%",
      100 - TARGET_PERCENT,
    ),
  ];
}

function outcomeFigures(run: FleetRun): BenchFigure[] {
  const count = (status: string) => run.byStatus.get(status) ?? 0;
  const room = Math.min(PROJECTS * SERVER_LIMIT, CUSTOMERS);
  return [
    figure(`customers ready (room for ${room})`, count("ready"), ""),
    figure(
      `customers waiting for capacity (${CUSTOMERS - room} expected)`,
      count("waiting_for_capacity"),
      "",
    ),
    figure(
      "customers neither ready nor waiting",
      CUSTOMERS - count("ready") - count("waiting_for_capacity"),
      "",
      0,
    ),
    figure("ready short of the room the limits give", room - count("ready"), "", 0),
    // Judged by its effect (no customer failed, above): the client paces by an estimate, and retries a 429.
    figure("429 rate_limit_exceeded answers (retried)", run.rateLimited.length, ""),
    figure("403 answers to POST /servers (limits hit)", run.limitRefusals, "", 0),
  ];
}

interface OperatorSweep {
  status?: string;
  skipped?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  decisions?: unknown[];
}

/** An operator sweep that really ran: one that found a scheduled sweep running (skipped) is asked again. */
async function operatorSweep(world: SimulatedStack): Promise<OperatorSweep> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(`${world.apiUrl}/v1/ops/reconcile`, {
      method: "POST",
      headers: { authorization: `Bearer ${world.env.OPS_TOKEN}`, "content-type": "application/json" },
      body: "{}",
    });
    const record = (await response.json()) as OperatorSweep;
    if (response.status !== 200 || record.status !== "succeeded")
      throw new Error(`the operator sweep did not succeed: ${response.status} ${JSON.stringify(record)}`);
    if (!record.skipped) return record;
    if (attempt === 5) throw new Error(`the operator sweep was skipped five times: ${record.skipped}`);
    await Bun.sleep(1000);
  }
}

/**
 * One operator sweep over the settled fleet: its requests per project (those answered while it ran; sweeps
 * never overlap, and nothing else moves by then) against ceil(servers / 50) + 1 + actions.
 */
async function sweepFigures(world: SimulatedStack): Promise<BenchFigure[]> {
  const record = await operatorSweep(world);
  const from = Date.parse(record.startedAt ?? "");
  const to = Date.parse(record.finishedAt ?? "");
  const actions = record.decisions?.length ?? 0;
  const log = world.sim.requests().filter((entry) => entry.at >= from && entry.at <= to);
  return Array.from({ length: PROJECTS }, (_, i) => {
    const project = projectName(i);
    const servers = world.sim.serverCount(project);
    const requests = log.filter((entry) => entry.project === project).length;
    const target = Math.ceil(servers / 50) + 1 + actions;
    return figure(
      `sweep requests, project ${project} (${servers} servers, ${actions} actions in all)`,
      requests,
      "",
      target,
    );
  });
}

export async function runFleetBench(): Promise<BenchFigure[]> {
  const dataDir = mkdtempSync(join(tmpdir(), "rachel-fleet-"));
  const world = await startFleetWorld(dataDir);
  // An interrupted bench still stops its services and removes its data.
  const interrupted = () =>
    void world.stop().finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(130);
    });
  process.once("SIGINT", interrupted);
  try {
    const run = await provisionFleet(world);
    process.stderr.write(
      `where the budget went (slices of 1/50 budget-hour):\n${formatTimeline(run.timeline)}\n`,
    );
    for (const answer of run.rateLimited) process.stderr.write(`429 at ${answer}\n`);
    process.stderr.write(`requests by kind:\n${formatRequestCounts(run.timeline.requests)}\n`);
    return [...outcomeFigures(run), ...throughputFigures(run), ...(await sweepFigures(world))];
  } finally {
    process.off("SIGINT", interrupted);
    await world.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const met = printFigures(
    `fleet: ${CUSTOMERS} paid customers, ${PROJECTS} projects of ${SERVER_LIMIT} servers, budgets ${BUDGET}/h from empty, time scale ${TIME_SCALE}, machineless servers`,
    await runFleetBench(),
  );
  process.exit(met ? 0 : 1);
}
