/**
 * The crash-point suite: real broker, API and worker processes against the simulator. A worker started
 * with CRASH_AT=<point> kills itself (SIGKILL) there; a clean worker takes over. The broker is bunqueue's
 * own process, so it is killed from outside at the points its clients observe: a provision acknowledged,
 * a step running, a job parked. The API, armed like the worker, dies where it acknowledges work (an
 * operation recorded but not queued, a callback stored but its job not woken); its caller retries. After each kill and restart the invariants hold: the operation ends where
 * it would have without the kill, one server per instance, no step's Hetzner create ran twice nor any step
 * was recorded done twice, no step row left open, and nothing left after a deprovision.
 *
 * CI runs ciCrashPoints (every provision boundary, one point per other job); CRASH_POINTS=all runs all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { and, eq } from "drizzle-orm";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { httpReady, type ServiceProcess, startService } from "../../cli/service-process.ts";
import { pollUntil } from "../../cli/wait.ts";
import { instances, operations, stepRuns, sweeps } from "../../db/schema.ts";
import { createHetznerClient, type HetznerClient } from "../../hetzner/index.ts";
import { requestReconfigure } from "../../jobs/reconfigure/request.ts";
import { createProductionJobs } from "../../jobs/registry.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import type { SimFault } from "../../sim/faults.ts";
import { allCrashPoints, ciCrashPoints } from "./crash-points.ts";
import { type E2eWorld, startE2eWorld } from "./harness.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const runAll = process.env.CRASH_POINTS === "all";
/** A redelivery waits out the dead worker's broker lock and instance lease: short ones keep each kill cheap. */
const FAST_RECOVERY = {
  JOB_LOCK_MS: "1500",
  LEASE_TTL_MS: "1500",
  HEARTBEAT_MS: "300",
  // Only the sweeps this suite asks for run; a zombie counts at once.
  RECONCILE_INTERVAL_MS: "86400000",
  RECONCILE_ZOMBIE_GRACE_MS: "0",
  LOG_LEVEL: "info",
  // The one look at the actions (and at a report whose signal was lost) comes at half of it: 8 s.
  CLOUD_INIT_TIMEOUT_MS: "16000",
};

let world: E2eWorld;
let hetzner: HetznerClient;
let jobs: readonly JobDefinition[];
/** Processes this file started (workers, a restarted broker), stopped on the way out. */
const started: ServiceProcess[] = [];
/** Ready instances left by earlier kills, for the deprovision and reconfigure points. */
const ready: { instanceId: string; customerId: string }[] = [];
let customers = 0;

beforeAll(async () => {
  world = await startE2eWorld(0.02, FAST_RECOVERY);
  await world.stack.services.get("worker")?.stop(5_000);
  hetzner = createHetznerClient({ endpoint: world.sim.endpoint, token: world.sim.token });
  jobs = createProductionJobs({
    db: world.db,
    sealer: world.sealer,
    hetzner,
    customers: world.customers,
    settings: world.config,
  });
}, 60_000);

afterAll(async () => {
  for (const child of started.filter((c) => c.name !== "broker")) await child.stop(5_000);
  await world?.dispose();
  for (const child of started) await child.stop(5_000);
});

type Service = "worker" | "broker" | "api";

const readyUrl: Record<Service, () => string> = {
  worker: () => `http://127.0.0.1:${world.config.workerMetricsPort}/metrics`,
  broker: () => `http://127.0.0.1:${world.config.brokerHttpPort}/ready`,
  api: () => `${world.apiUrl}/readyz`,
};

function startProcess(name: Service, extraEnv: Record<string, string> = {}): ServiceProcess {
  const child = startService({
    name,
    entry: resolve(repoRoot, `${name}/main.ts`),
    env: { ...world.env, ...extraEnv },
    cwd: repoRoot,
    isReady: httpReady(readyUrl[name]()),
    onLine: (text) => world.lines.push({ service: name, text }),
  });
  started.push(child);
  return child;
}

async function startWorker(extraEnv: Record<string, string> = {}): Promise<ServiceProcess> {
  const worker = startProcess("worker", extraEnv);
  await worker.waitReady(30_000);
  return worker;
}

function newCustomer(): string {
  customers += 1;
  const customerId = `crash-${customers}`;
  world.customers.upsert(customerId, fakeCustomerSecrets(`crash${customers}`));
  return customerId;
}

/** Runs `trigger` under a worker armed at `point`, sees it die there, and leaves a clean worker running. */
async function killWorkerAt(point: string, trigger: () => Promise<void>): Promise<ServiceProcess> {
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
}

/** What a provision of `instanceId` must have left, however often it was killed. */
async function expectProvisionedOnce(instanceId: string, operationId: string, since: number) {
  expect(await world.finish(operationId, 90_000)).toMatchObject({ status: "succeeded" });
  const servers = await hetzner.servers.listAll({ name: `rachel-${instanceId}` });
  expect(servers).toHaveLength(1);
  const created = (path: string) =>
    world.sim
      .requests()
      .filter((r) => r.method === "POST" && r.path === path && r.status === 201 && r.at >= since);
  expect(created("/servers")).toHaveLength(1);
  expect(created("/ssh_keys")).toHaveLength(1);
  expect(world.db.select().from(instances).where(eq(instances.id, instanceId)).get()?.hetznerServerId).toBe(
    servers[0]?.id ?? -1,
  );
  expectStepsClosedAndDoneOnce(operationId);
}

function expectStepsClosedAndDoneOnce(operationId: string) {
  const rows = world.db
    .select({ step: stepRuns.step, status: stepRuns.status })
    .from(stepRuns)
    .where(and(eq(stepRuns.operationId, operationId), eq(stepRuns.kind, "run")))
    .all();
  expect(rows.filter((row) => row.status === "running" || row.status === "waiting")).toEqual([]);
  const done = rows.filter((row) => row.status === "succeeded").map((row) => row.step);
  expect(done).toEqual([...new Set(done)]);
}

async function provisionUnder(crash: (trigger: () => Promise<void>) => Promise<ServiceProcess>) {
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
}

const points = () => (runAll ? allCrashPoints(jobs) : ciCrashPoints(jobs, "provision"));

describe("worker killed at a crash point", () => {
  test("the catalogue covers every step of every job and the sweep", () => {
    const all = allCrashPoints(jobs);
    const kinds = new Set(all.map((p) => p.point.split(".").at(-1)));
    expect([...kinds].sort()).toEqual([
      "answered",
      "applied",
      "claimed",
      "decided",
      "done",
      "ran",
      "start",
      "undone",
    ]);
    const provisionSteps = jobs.find((job) => job.name === "provision")?.steps ?? [];
    const innerPoints = provisionSteps.flatMap((step) => step.crashPoints ?? []);
    const ci = ciCrashPoints(jobs, "provision");
    // Every boundary, every inner point, one undo.
    expect(ci.filter((p) => p.job === "provision")).toHaveLength(
      provisionSteps.length + 1 + innerPoints.length + 1,
    );
    expect(new Set(ci.map((p) => p.job))).toEqual(new Set([...jobs.map((job) => job.name), "sweep"]));
    console.info(`crash points: ${all.length} in all (${[...kinds].join(", ")}); ${ci.length} in CI`);
  });

  test("provision: every selected point ends ready with one server", async () => {
    for (const { point } of points().filter((p) => p.job === "provision" && !p.point.endsWith(".undone"))) {
      await provisionUnder((trigger) => killWorkerAt(point, trigger));
    }
  }, 600_000);

  /** A failure after each undoable step, so the rollback undoes it. */
  const failureAfter: Record<string, SimFault> = {
    "ssh-key": { kind: "server_limit" },
    "create-server": { kind: "action_error", command: "start_server" },
  };

  test("provision rollback: every selected undo point ends failed with nothing left", async () => {
    for (const { point } of points().filter((p) => p.job === "provision" && p.point.endsWith(".undone"))) {
      const step = point.split(".")[1] ?? "";
      const fault = failureAfter[step];
      if (!fault) throw new Error(`no failure set up to roll back ${step}: add one to failureAfter`);
      world.sim.faults.add(fault);
      const customerId = newCustomer();
      let ids: { instanceId: string; operationId: string } | undefined;
      const clean = await killWorkerAt(point, async () => {
        ids = await world.requests.requestProvision(customerId);
      });
      world.sim.faults.clear();
      if (!ids) throw new Error("the provision was never requested");
      expect(await world.finish(ids.operationId, 90_000)).toMatchObject({ status: "failed" });
      expectStepsClosedAndDoneOnce(ids.operationId);
      const name = `rachel-${ids.instanceId}`;
      expect(await hetzner.servers.listAll({ name })).toEqual([]);
      expect(await hetzner.sshKeys.listAll({ name })).toEqual([]);
      await clean.stop(5_000);
    }
  }, 300_000);

  test("reconfigure: every selected point ends ready", async () => {
    for (const { point } of points().filter((p) => p.job === "reconfigure")) {
      const target = ready.at(0);
      if (!target) throw new Error("no ready instance to reconfigure");
      let operationId = "";
      const clean = await killWorkerAt(point, async () => {
        world.customers.upsert(target.customerId, fakeCustomerSecrets(`again${customers}`));
        const decision = await requestReconfigure({ db: world.db, queue: world.queue }, target.customerId);
        if (decision.kind !== "enqueued") throw new Error(`reconfigure not enqueued: ${decision.kind}`);
        operationId = decision.operationId;
      });
      expect(await world.finish(operationId, 90_000)).toMatchObject({ status: "succeeded" });
      expectStepsClosedAndDoneOnce(operationId);
      expect(await hetzner.servers.listAll({ name: `rachel-${target.instanceId}` })).toHaveLength(1);
      await clean.stop(5_000);
    }
  }, 600_000);

  test("deprovision: every selected point ends with nothing left", async () => {
    for (const { point } of points().filter((p) => p.job === "deprovision")) {
      const target = ready.pop();
      if (!target) throw new Error("no ready instance to deprovision");
      let operationId = "";
      const clean = await killWorkerAt(point, async () => {
        const requested = await world.requests.requestDeprovision(target.customerId);
        if (!requested) throw new Error("nothing to deprovision");
        operationId = requested.operationId;
      });
      expect(await world.finish(operationId, 90_000)).toMatchObject({ status: "succeeded" });
      expectStepsClosedAndDoneOnce(operationId);
      const name = `rachel-${target.instanceId}`;
      expect(await hetzner.servers.listAll({ name })).toEqual([]);
      expect(await hetzner.sshKeys.listAll({ name })).toEqual([]);
      await clean.stop(5_000);
    }
  }, 600_000);

  test("sweep: every selected point is resumed and deletes the zombie exactly once", async () => {
    for (const { point } of points().filter((p) => p.job === "sweep")) {
      const zombie = await hetzner.servers.create({
        name: `rachel-zombie-${point.replaceAll(".", "-")}`,
        serverType: "cx23",
        image: "ubuntu-24.04",
        labels: { "managed-by": "rachel-provisioner", instance: `zombie${point.replaceAll(/\W/g, "")}` },
      });
      world.sim.clearRequests();
      let sweepId = "";
      const clean = await killWorkerAt(point, async () => {
        const response = await fetch(`${world.apiUrl}/v1/ops/reconcile`, {
          method: "POST",
          headers: { Authorization: `Bearer ${world.env.OPS_TOKEN}`, Prefer: "wait=0" },
        });
        sweepId = ((await response.json()) as { id: string }).id;
      });
      await pollUntil(
        () => world.db.select().from(sweeps).where(eq(sweeps.id, sweepId)).get()?.status === "succeeded",
        {
          timeoutMs: 30_000,
          description: `sweep ${sweepId} to be resumed and succeed`,
        },
      );
      await pollUntil(async () => (await hetzner.servers.get(zombie.server.id)) === null, {
        timeoutMs: 30_000,
        description: `zombie ${zombie.server.id} to be gone`,
      });
      const deletes = world.sim
        .requests()
        .filter((r) => r.method === "DELETE" && r.path === "/servers/{id}" && r.status === 200);
      expect(deletes.length).toBeLessThanOrEqual(1);
      await clean.stop(5_000);
    }
  }, 300_000);
});

describe("broker killed where its clients observe it", () => {
  /** SIGKILLs the running broker (launcher and server) when `when` holds, then starts a new one. */
  async function killBrokerWhen(when: () => Promise<unknown>): Promise<void> {
    await when();
    const broker = started.filter((c) => c.name === "broker").at(-1) ?? world.stack.services.get("broker");
    broker?.signal("SIGKILL");
    await broker?.exited;
    await startProcess("broker").waitReady(30_000);
  }

  const operationStatus = (operationId: string) =>
    world.db.select().from(operations).where(eq(operations.id, operationId)).get();

  const currentStep = (instanceId: string) =>
    world.db.select().from(instances).where(eq(instances.id, instanceId)).get()?.currentStep;

  const brokerPoints: {
    name: string;
    at: (requested: { instanceId: string; operationId: string }) => Promise<unknown>;
  }[] = [
    { name: "the provision just acknowledged", at: async () => undefined },
    {
      name: "a step running",
      // verify holds the unit under watch for VERIFY_SETTLE_MS: long enough to be seen running.
      at: ({ instanceId }) =>
        pollUntil(() => currentStep(instanceId) === "verify", {
          timeoutMs: 30_000,
          intervalMs: 10,
          description: "verify to run",
        }),
    },
    {
      name: "the job parked on the callback",
      at: ({ operationId }) =>
        pollUntil(() => operationStatus(operationId)?.status === "parked", {
          timeoutMs: 30_000,
          description: "the provision to park",
        }),
    },
  ];

  for (const point of brokerPoints) {
    test(`${point.name}: the provision still ends ready with one server`, async () => {
      const worker = await startWorker();
      const customerId = newCustomer();
      const since = Date.now();
      const requested = await world.requests.requestProvision(customerId);
      await killBrokerWhen(() => point.at(requested));
      await expectProvisionedOnce(requested.instanceId, requested.operationId, since);
      await worker.stop(5_000);
    }, 120_000);
  }
});

describe("API killed where it acknowledges work", () => {
  /** Stops the running API and starts one armed at `point` (or a clean one). */
  async function replaceApi(extraEnv: Record<string, string> = {}): Promise<ServiceProcess> {
    const current = started.filter((c) => c.name === "api").at(-1) ?? world.stack.services.get("api");
    await current?.stop(5_000);
    const api = startProcess("api", extraEnv);
    await api.waitReady(30_000);
    return api;
  }

  /** Sends `request` until it is answered: the way a caller retries a request that got no answer. */
  async function sendUntilAnswered(request: () => Promise<Response>): Promise<Response> {
    return pollUntil(() => request().catch(() => undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
      description: "an answer from the restarted API",
    });
  }

  for (const point of ["queue.enqueue.recorded", "queue.enqueue.added"]) {
    test(`${point}: a deprovision the API died acknowledging finishes on the caller's retry`, async () => {
      const target = ready.pop();
      if (!target) throw new Error("no ready instance to deprovision");
      const worker = await startWorker();
      const armed = await replaceApi({ CRASH_AT: point });
      const deprovision = () =>
        fetch(`${world.apiUrl}/v1/ops/instances/${target.instanceId}/deprovision`, {
          method: "POST",
          headers: { Authorization: `Bearer ${world.env.OPS_TOKEN}` },
        });
      await deprovision().catch(() => undefined);
      expect(await armed.exited).toBe(137);
      startProcess("api");
      const answer = await sendUntilAnswered(deprovision);
      // 202 re-adds the job; 409 when the job the dead API had added already finished the teardown.
      expect([202, 409]).toContain(answer.status);
      const operation = world.db
        .select({ id: operations.id })
        .from(operations)
        .where(and(eq(operations.instanceId, target.instanceId), eq(operations.operation, "deprovision")))
        .get();
      expect(await world.finish(operation?.id ?? "", 60_000)).toMatchObject({ status: "succeeded" });
      const name = `rachel-${target.instanceId}`;
      expect(await hetzner.servers.listAll({ name })).toEqual([]);
      expect(await hetzner.sshKeys.listAll({ name })).toEqual([]);
      await worker.stop(5_000);
    }, 120_000);
  }

  for (const point of ["queue.signal.received", "queue.signal.recorded", "queue.signal.promoted"]) {
    test(`${point}: a callback cut short still ends ready with one server`, async () => {
      await replaceApi({ CRASH_AT: point });
      const armed = started.filter((c) => c.name === "api").at(-1);
      const worker = await startWorker();
      const customerId = newCustomer();
      const since = Date.now();
      const requested = await world.requests.requestProvision(customerId);
      expect(await armed?.exited).toBe(137);
      await startProcess("api").waitReady(30_000);
      await expectProvisionedOnce(requested.instanceId, requested.operationId, since);
      console.info(`provision with its callback's API killed at ${point}: ${Date.now() - since} ms`);
      await worker.stop(5_000);
    }, 120_000);
  }
});
