/**
 * The world of the crash-point suite: the E2E world (simulator in this process; broker, API and worker as
 * real processes) with short locks and leases, its own worker stopped, and the helpers that arm a process
 * at a crash point, restart it clean and check what a provision must have left however often it was killed.
 */
import { expect } from "bun:test";
import { resolve } from "node:path";
import { and, eq } from "drizzle-orm";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { httpReady, type ServiceProcess, startService } from "../../cli/service-process.ts";
import { instances, stepRuns } from "../../db/schema.ts";
import { createHetznerClient, type HetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { projectsWithClients } from "../../jobs/capacity/projects.ts";
import { createProductionJobs } from "../../jobs/registry.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { createSessionHandover } from "../../remote/handover.ts";
import { capacityFromConfig } from "../../worker/capacity.ts";
import { type E2eWorld, startE2eWorld } from "./harness.ts";

const repoRoot = resolve(import.meta.dir, "../..");
/** A redelivery waits out the dead worker's broker lock and instance lease: short ones keep each kill cheap. */
const FAST_RECOVERY = {
  JOB_LOCK_MS: "1500",
  LEASE_TTL_MS: "1500",
  HEARTBEAT_MS: "300",
  // Only the sweeps the suite asks for run; a zombie counts at once.
  RECONCILE_INTERVAL_MS: "86400000",
  RECONCILE_ZOMBIE_GRACE_MS: "0",
  LOG_LEVEL: "info",
  // The one look at the actions (and at a report whose signal was lost) comes at half of it: 8 s.
  CLOUD_INIT_TIMEOUT_MS: "16000",
};

export type Service = "worker" | "broker" | "api";

export interface CrashWorld {
  world: E2eWorld;
  hetzner: HetznerClient;
  /** The production job definitions, as the worker builds them: the crash points are listed from these. */
  jobs: readonly JobDefinition[];
  /** Ready instances left by earlier kills, for the deprovision, reconfigure and API points. */
  ready: { instanceId: string; customerId: string }[];
  /** Processes started by the suite (workers, restarted broker and API), newest last. */
  started: ServiceProcess[];
  startProcess(name: Service, extraEnv?: Record<string, string>): ServiceProcess;
  startWorker(extraEnv?: Record<string, string>): Promise<ServiceProcess>;
  /** A registered customer with fresh fake secrets. */
  newCustomer(): string;
  /** Runs `trigger` under a worker armed at `point`, sees it die there, and leaves a clean worker running. */
  killWorkerAt(point: string, trigger: () => Promise<void>): Promise<ServiceProcess>;
  /** What a provision must have left, however often it was killed. */
  expectProvisionedOnce(instanceId: string, operationId: string, since: number): Promise<void>;
  /** No step row left running or waiting; no step recorded done twice. */
  expectStepsClosedAndDoneOnce(operationId: string): void;
  /** A provision killed by `crash`, checked, and its instance kept in `ready`. */
  provisionUnder(crash: (trigger: () => Promise<void>) => Promise<ServiceProcess>): Promise<void>;
  dispose(): Promise<void>;
}

export async function startCrashWorld(): Promise<CrashWorld> {
  const world = await startE2eWorld(0.02, FAST_RECOVERY);
  await world.stack.services.get("worker")?.stop(5_000);
  const hetzner = createHetznerClient({
    endpoint: world.sim.endpoint,
    token: world.sim.token,
    budget: new RateLimitBudget(),
  });
  const jobs = createProductionJobs({
    db: world.db,
    sealer: world.sealer,
    projects: projectsWithClients(world.config.hcloudProjects, () => hetzner),
    customers: world.customers,
    sessions: createSessionHandover(),
    settings: world.config,
    // As the worker process has it: the provision's points include place's.
    capacity: capacityFromConfig(world.config, world.queue.signal),
  });
  const started: ServiceProcess[] = [];
  const ready: CrashWorld["ready"] = [];
  let customers = 0;

  const readyUrl: Record<Service, string> = {
    worker: `http://127.0.0.1:${world.config.workerMetricsPort}/metrics`,
    broker: `http://127.0.0.1:${world.config.brokerHttpPort}/ready`,
    api: `${world.apiUrl}/readyz`,
  };

  const startProcess: CrashWorld["startProcess"] = (name, extraEnv = {}) => {
    const child = startService({
      name,
      entry: resolve(repoRoot, `${name}/main.ts`),
      env: { ...world.env, ...extraEnv },
      cwd: repoRoot,
      isReady: httpReady(readyUrl[name]),
      onLine: (text) => world.lines.push({ service: name, text }),
    });
    started.push(child);
    return child;
  };

  const startWorker: CrashWorld["startWorker"] = async (extraEnv = {}) => {
    const worker = startProcess("worker", extraEnv);
    await worker.waitReady(30_000);
    return worker;
  };

  const killWorkerAt: CrashWorld["killWorkerAt"] = async (point, trigger) => {
    const armed = await startWorker({ CRASH_AT: point });
    await trigger().catch(async (err: unknown) => {
      await armed.stop(5_000);
      throw err;
    });
    const exitCode = await Promise.race([armed.exited, Bun.sleep(60_000).then(() => "never reached")]);
    if (exitCode !== 137) {
      await armed.stop(5_000);
      const tail = world.lines.filter((line) => line.service === "worker").slice(-5);
      throw new Error(`worker armed at ${point} exited ${exitCode}:\n${tail.map((l) => l.text).join("\n")}`);
    }
    expect(
      world.lines.some((line) => line.service === "worker" && line.text.includes(`"point":"${point}"`)),
    ).toBe(true);
    return startWorker();
  };

  const expectStepsClosedAndDoneOnce: CrashWorld["expectStepsClosedAndDoneOnce"] = (operationId) => {
    const rows = world.db
      .select({ step: stepRuns.step, status: stepRuns.status })
      .from(stepRuns)
      .where(and(eq(stepRuns.operationId, operationId), eq(stepRuns.kind, "run")))
      .all();
    expect(rows.filter((row) => row.status === "running" || row.status === "waiting")).toEqual([]);
    const done = rows.filter((row) => row.status === "succeeded").map((row) => row.step);
    expect(done).toEqual([...new Set(done)]);
  };

  const expectProvisionedOnce: CrashWorld["expectProvisionedOnce"] = async (
    instanceId,
    operationId,
    since,
  ) => {
    expect(await world.finish(operationId, 90_000)).toMatchObject({ status: "succeeded" });
    const servers = await hetzner.servers.listAll({ name: `rachel-${instanceId}` });
    expect(servers).toHaveLength(1);
    const created = (path: string) =>
      world.sim
        .requests()
        .filter((r) => r.method === "POST" && r.path === path && r.status === 201 && r.at >= since);
    expect(created("/servers")).toHaveLength(1);
    expect(created("/ssh_keys")).toHaveLength(1);
    const stored = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    expect(stored?.hetznerServerId).toBe(servers[0]?.id ?? -1);
    expectStepsClosedAndDoneOnce(operationId);
  };

  const newCustomer = () => {
    customers += 1;
    const customerId = `crash-${customers}`;
    world.customers.upsert(customerId, fakeCustomerSecrets(`crash${customers}`));
    return customerId;
  };

  return {
    world,
    hetzner,
    jobs,
    ready,
    started,
    startProcess,
    startWorker,
    newCustomer,
    killWorkerAt,
    expectProvisionedOnce,
    expectStepsClosedAndDoneOnce,
    async provisionUnder(crash) {
      const customerId = newCustomer();
      const since = Date.now();
      let ids: { instanceId: string; operationId: string } | undefined;
      const clean = await crash(async () => {
        ids = await world.requests.requestProvision(customerId);
      });
      if (!ids) throw new Error("the provision was never requested");
      await expectProvisionedOnce(ids.instanceId, ids.operationId, since);
      ready.push({ instanceId: ids.instanceId, customerId });
      await clean.stop(5_000);
    },
    async dispose() {
      for (const child of started.filter((c) => c.name !== "broker")) await child.stop(5_000);
      await world.dispose();
      for (const child of started) await child.stop(5_000);
    },
  };
}
