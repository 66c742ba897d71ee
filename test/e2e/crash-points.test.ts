/**
 * The crash-point suite: real broker, API and worker processes against the simulator (crash-world.ts). A
 * worker started with CRASH_AT=<point> kills itself (SIGKILL) there; a clean worker takes over. The broker
 * is bunqueue's own process, so it is killed from outside at the points its clients observe: a provision
 * acknowledged, a step running, a job parked. The API, armed like the worker, dies where it acknowledges
 * work (an operation recorded but not queued, a callback stored but its job not woken); its caller
 * retries. After each kill and restart the invariants hold: the operation ends where it would have without
 * the kill, one server per instance, no Hetzner create ran twice nor any step was recorded done twice, no
 * step row left open, and nothing left after a deprovision.
 *
 * CI runs ciCrashPoints (every provision boundary, one point per other job); CRASH_POINTS=all runs all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { bundleStoreDir } from "../../bundle/store.ts";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import type { ServiceProcess } from "../../cli/service-process.ts";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations, sweeps } from "../../db/schema.ts";
import { buildVariantBundle } from "../../harness/upgrade/variant-bundle.ts";
import { requestReconfigure } from "../../jobs/reconfigure/request.ts";
import type { SimFault } from "../../sim/faults.ts";
import { allCrashPoints, ciCrashPoints } from "./crash-points.ts";
import { type CrashWorld, startCrashWorld } from "./crash-world.ts";

const runAll = process.env.CRASH_POINTS === "all";

let crash: CrashWorld;
beforeAll(async () => {
  crash = await startCrashWorld();
}, 60_000);
afterAll(async () => {
  await crash?.dispose();
});

const points = () => (runAll ? allCrashPoints(crash.jobs) : ciCrashPoints(crash.jobs, "provision"));

describe("worker killed at a crash point", () => {
  test("the catalogue covers every step of every job and the sweep", () => {
    const all = allCrashPoints(crash.jobs);
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
    const provisionSteps = crash.jobs.find((job) => job.name === "provision")?.steps ?? [];
    const innerPoints = provisionSteps.flatMap((step) => step.crashPoints ?? []);
    const ci = ciCrashPoints(crash.jobs, "provision");
    // Every boundary, every inner point, one undo.
    expect(ci.filter((p) => p.job === "provision")).toHaveLength(
      provisionSteps.length + 1 + innerPoints.length + 1,
    );
    expect(new Set(ci.map((p) => p.job))).toEqual(new Set([...crash.jobs.map((job) => job.name), "sweep"]));
    console.info(`crash points: ${all.length} in all (${[...kinds].join(", ")}); ${ci.length} in CI`);
  });

  test("provision: every selected point ends crash.ready with one server", async () => {
    for (const { point } of points().filter((p) => p.job === "provision" && !p.point.endsWith(".undone"))) {
      await crash.provisionUnder((trigger) => crash.killWorkerAt(point, trigger));
    }
  }, 600_000);

  /**
   * A failure after each undoable step, so the rollback undoes it. Not the server limit: a provision that
   * meets it waits for capacity instead of failing.
   */
  const failureAfter: Record<string, SimFault> = {
    place: {
      kind: "error",
      method: "POST",
      path: "/ssh_keys",
      status: 422,
      code: "invalid_input",
      message: "injected: the key is refused for good",
      times: Number.POSITIVE_INFINITY,
    },
    "ssh-key": {
      kind: "error",
      method: "POST",
      path: "/servers",
      status: 422,
      code: "invalid_input",
      message: "injected: the create is refused for good",
      times: Number.POSITIVE_INFINITY,
    },
    "create-server": { kind: "action_error", command: "start_server" },
  };

  test("provision rollback: every selected undo point ends failed with nothing left", async () => {
    for (const { point } of points().filter((p) => p.job === "provision" && p.point.endsWith(".undone"))) {
      const step = point.split(".")[1] ?? "";
      const fault = failureAfter[step];
      if (!fault) throw new Error(`no failure set up to roll back ${step}: add one to failureAfter`);
      crash.world.sim.faults.add(fault);
      const customerId = crash.newCustomer();
      let ids: { instanceId: string; operationId: string } | undefined;
      const clean = await crash
        .killWorkerAt(point, async () => {
          ids = await crash.world.requests.requestProvision(customerId);
        })
        .finally(() => crash.world.sim.faults.clear());
      if (!ids) throw new Error("the provision was never requested");
      expect(await crash.world.finish(ids.operationId, 90_000)).toMatchObject({ status: "failed" });
      crash.expectStepsClosedAndDoneOnce(ids.operationId);
      const name = `rachel-${ids.instanceId}`;
      expect(await crash.hetzner.servers.listAll({ name })).toEqual([]);
      expect(await crash.hetzner.sshKeys.listAll({ name })).toEqual([]);
      await clean.stop(5_000);
    }
  }, 300_000);

  test("reconfigure: every selected point ends crash.ready", async () => {
    for (const { point } of points().filter((p) => p.job === "reconfigure")) {
      const target = crash.ready.at(0);
      if (!target) throw new Error("no crash.ready instance to reconfigure");
      let operationId = "";
      const clean = await crash.killWorkerAt(point, async () => {
        crash.world.customers.upsert(target.customerId, fakeCustomerSecrets(`again${Date.now()}`));
        const decision = await requestReconfigure(
          { db: crash.world.db, queue: crash.world.queue },
          target.customerId,
        );
        if (decision.kind !== "enqueued") throw new Error(`reconfigure not enqueued: ${decision.kind}`);
        operationId = decision.operationId;
      });
      expect(await crash.world.finish(operationId, 90_000)).toMatchObject({ status: "succeeded" });
      crash.expectStepsClosedAndDoneOnce(operationId);
      expect(await crash.hetzner.servers.listAll({ name: `rachel-${target.instanceId}` })).toHaveLength(1);
      await clean.stop(5_000);
    }
  }, 600_000);

  test("upgrade: every selected point ends crash.ready on the bundle asked for", async () => {
    const bundlesDir = bundleStoreDir(crash.world.config.dataDir);
    const bundles = [
      await buildVariantBundle(bundlesDir, "x64", async () => undefined),
      await buildVariantBundle(bundlesDir, "x64", async () => undefined),
    ];
    const selected = points().filter((p) => p.job === "upgrade");
    for (const [index, { point }] of selected.entries()) {
      const target = crash.ready.at(0);
      if (!target) throw new Error("no crash.ready instance to upgrade");
      const bundle = bundles[index % bundles.length];
      let operationId = "";
      const clean = await crash.killWorkerAt(point, async () => {
        const response = await fetch(`${crash.world.apiUrl}/v1/ops/instances/${target.instanceId}/upgrade`, {
          method: "POST",
          headers: { Authorization: `Bearer ${crash.world.env.OPS_TOKEN}` },
          body: JSON.stringify({ bundle }),
        });
        operationId = ((await response.json()) as { operationId: string }).operationId;
      });
      expect(await crash.world.finish(operationId, 90_000)).toMatchObject({ status: "succeeded" });
      crash.expectStepsClosedAndDoneOnce(operationId);
      expect(
        crash.world.db.select().from(instances).where(eq(instances.id, target.instanceId)).get(),
      ).toMatchObject({ status: "ready", bundleId: bundle });
      await clean.stop(5_000);
    }
  }, 600_000);

  test("deprovision: every selected point ends with nothing left", async () => {
    for (const { point } of points().filter((p) => p.job === "deprovision")) {
      const target = crash.ready.pop();
      if (!target) throw new Error("no crash.ready instance to deprovision");
      let operationId = "";
      const clean = await crash.killWorkerAt(point, async () => {
        const requested = await crash.world.requests.requestDeprovision(target.customerId);
        if (!requested) throw new Error("nothing to deprovision");
        operationId = requested.operationId;
      });
      expect(await crash.world.finish(operationId, 90_000)).toMatchObject({ status: "succeeded" });
      crash.expectStepsClosedAndDoneOnce(operationId);
      const name = `rachel-${target.instanceId}`;
      expect(await crash.hetzner.servers.listAll({ name })).toEqual([]);
      expect(await crash.hetzner.sshKeys.listAll({ name })).toEqual([]);
      await clean.stop(5_000);
    }
  }, 600_000);

  test("sweep: every selected point is resumed and deletes the zombie exactly once", async () => {
    for (const { point } of points().filter((p) => p.job === "sweep")) {
      const zombie = await crash.hetzner.servers.create({
        name: `rachel-zombie-${point.replaceAll(".", "-")}`,
        serverType: "cx23",
        image: "ubuntu-24.04",
        labels: { "managed-by": "rachel-provisioner", instance: `zombie${point.replaceAll(/\W/g, "")}` },
      });
      crash.world.sim.clearRequests();
      let sweepId = "";
      const clean = await crash.killWorkerAt(point, async () => {
        const response = await fetch(`${crash.world.apiUrl}/v1/ops/reconcile`, {
          method: "POST",
          headers: { Authorization: `Bearer ${crash.world.env.OPS_TOKEN}`, Prefer: "wait=0" },
        });
        sweepId = ((await response.json()) as { id: string }).id;
      });
      await pollUntil(
        () =>
          crash.world.db.select().from(sweeps).where(eq(sweeps.id, sweepId)).get()?.status === "succeeded",
        {
          timeoutMs: 30_000,
          description: `sweep ${sweepId} to be resumed and succeed`,
        },
      );
      await pollUntil(async () => (await crash.hetzner.servers.get(zombie.server.id)) === null, {
        timeoutMs: 30_000,
        description: `zombie ${zombie.server.id} to be gone`,
      });
      const deletes = crash.world.sim
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
    const broker =
      crash.started.filter((c) => c.name === "broker").at(-1) ?? crash.world.stack.services.get("broker");
    broker?.signal("SIGKILL");
    await broker?.exited;
    await crash.startProcess("broker").waitReady(30_000);
  }

  const operationStatus = (operationId: string) =>
    crash.world.db.select().from(operations).where(eq(operations.id, operationId)).get();

  const currentStep = (instanceId: string) =>
    crash.world.db.select().from(instances).where(eq(instances.id, instanceId)).get()?.currentStep;

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
    test(`${point.name}: the provision still ends crash.ready with one server`, async () => {
      const worker = await crash.startWorker();
      const customerId = crash.newCustomer();
      const since = Date.now();
      const requested = await crash.world.requests.requestProvision(customerId);
      await killBrokerWhen(() => point.at(requested));
      await crash.expectProvisionedOnce(requested.instanceId, requested.operationId, since);
      await worker.stop(5_000);
    }, 120_000);
  }
});

describe("API killed where it acknowledges work", () => {
  /** Stops the running API and starts one armed at `point` (or a clean one). */
  async function replaceApi(extraEnv: Record<string, string> = {}): Promise<ServiceProcess> {
    const current =
      crash.started.filter((c) => c.name === "api").at(-1) ?? crash.world.stack.services.get("api");
    await current?.stop(5_000);
    const api = crash.startProcess("api", extraEnv);
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
      const target = crash.ready.pop();
      if (!target) throw new Error("no crash.ready instance to deprovision");
      const worker = await crash.startWorker();
      const armed = await replaceApi({ CRASH_AT: point });
      const deprovision = () =>
        fetch(`${crash.world.apiUrl}/v1/ops/instances/${target.instanceId}/deprovision`, {
          method: "POST",
          headers: { Authorization: `Bearer ${crash.world.env.OPS_TOKEN}` },
        });
      await deprovision().catch(() => undefined);
      expect(await armed.exited).toBe(137);
      crash.startProcess("api");
      const answer = await sendUntilAnswered(deprovision);
      // 202 re-adds the job; 409 when the job the dead API had added already finished the teardown.
      expect([202, 409]).toContain(answer.status);
      const operation = crash.world.db
        .select({ id: operations.id })
        .from(operations)
        .where(and(eq(operations.instanceId, target.instanceId), eq(operations.operation, "deprovision")))
        .get();
      expect(await crash.world.finish(operation?.id ?? "", 60_000)).toMatchObject({ status: "succeeded" });
      const name = `rachel-${target.instanceId}`;
      expect(await crash.hetzner.servers.listAll({ name })).toEqual([]);
      expect(await crash.hetzner.sshKeys.listAll({ name })).toEqual([]);
      await worker.stop(5_000);
    }, 120_000);
  }

  for (const point of ["queue.signal.received", "queue.signal.recorded", "queue.signal.promoted"]) {
    test(`${point}: a callback cut short still ends crash.ready with one server`, async () => {
      await replaceApi({ CRASH_AT: point });
      const armed = crash.started.filter((c) => c.name === "api").at(-1);
      const worker = await crash.startWorker();
      const customerId = crash.newCustomer();
      const since = Date.now();
      const requested = await crash.world.requests.requestProvision(customerId);
      expect(await armed?.exited).toBe(137);
      await crash.startProcess("api").waitReady(30_000);
      await crash.expectProvisionedOnce(requested.instanceId, requested.operationId, since);
      console.info(`provision with its callback's API killed at ${point}: ${Date.now() - since} ms`);
      await worker.stop(5_000);
    }, 120_000);
  }
});
