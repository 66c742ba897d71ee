/**
 * Server limits and the waiting line: a paid customer beyond the project's limit waits durably in
 * waiting_for_capacity instead of failing, and becomes ready when a deprovision deletes a server; a limit
 * the config does not know is learned from Hetzner's resource_limit_exceeded.
 */
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { Config } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { pollUntil } from "../../core/wait.ts";
import { projectCapacity } from "../../db/schema.ts";
import { customerState } from "../../domain/customer-state.ts";
import { fleetStatus } from "../../domain/ops/status.ts";
import {
  type ProvisionWorld,
  provisionWorldForFile,
  simProject,
  type WorldOverrides,
} from "../../harness/provision-job/world.ts";
import { WAITING_FOR_CAPACITY, waitingLine } from "../../jobs/capacity/line.ts";
import { hetznerProjects } from "../../jobs/capacity/projects.ts";
import { registerCapacityMetrics, wakeWaitingAtStart } from "../../worker/capacity.ts";

const silentLog = createLogger({ level: "silent" });

/** A worker's capacity line with the world's one project limited to `serverLimit` (null: unknown). */
function limitedTo(w: ProvisionWorld, serverLimit: number | null): WorldOverrides {
  return {
    projects: hetznerProjects([simProject(w.hetzner, { serverLimit })]),
    capacity: {
      maxServers: null,
      waitTimeoutMs: 600_000,
      signal: (instanceId, name, data) => w.runtime.queue.signal(instanceId, name, data),
    },
  };
}

/** The world's config with its one project limited to `serverLimit`, as an operator would configure it. */
function withServerLimit(config: Config, serverLimit: number): Config {
  const [first, ...more] = config.hcloudProjects;
  return { ...config, hcloudProjects: [{ ...first, serverLimit }, ...more] };
}

async function provisionReady(w: ProvisionWorld, marker: string) {
  const { customerId } = w.addCustomer(marker);
  const requested = await w.requests.requestProvision(customerId);
  return { customerId, ...requested };
}

describe("capacity", () => {
  const fixture = provisionWorldForFile();

  test("the eleventh customer of a project limited to 10 waits and becomes ready when a server is deleted", async () => {
    const w = fixture.current;
    w.sim.setServerLimit(10);
    await w.startWorker(limitedTo(w, 10));
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => provisionReady(w, `ten-${i}`)));
    for (const p of first)
      expect(await w.finish(p.operationId, 120_000)).toMatchObject({ status: "succeeded" });

    const eleventh = await provisionReady(w, "eleventh");
    await pollUntil(() => w.instance(eleventh.instanceId).status === WAITING_FOR_CAPACITY, {
      timeoutMs: 30_000,
      description: "the eleventh customer to wait for capacity",
    });
    expect(waitingLine(w.runtime.db).map((e) => [e.instanceId, e.position])).toEqual([
      [eleventh.instanceId, 1],
    ]);
    const { capacity: seen } = fleetStatus(w.runtime.db, {
      projects: [{ name: "default", serverLimit: 10 }],
      maxServers: null,
    });
    expect(seen.projects).toEqual([
      { project: "default", used: 10, limit: 10, learnedFull: false, room: 0, requestBudget: null },
    ]);
    expect(seen.waiting.map((e) => e.position)).toEqual([1]);
    expect(customerState(w.runtime.db, eleventh.customerId)).toMatchObject({
      phase: "waiting_for_capacity",
      waitingPosition: 1,
    });
    const metrics = createMetrics();
    registerCapacityMetrics(metrics, w.runtime.db, withServerLimit(w.runtime.config, 10));
    expect(await metrics.render()).toContain("provisions_waiting_for_capacity 1\n");
    expect(await metrics.render()).toContain('hetzner_project_servers{project="default"} 10\n');
    // Only the ten servers: the wait made no create that Hetzner would have refused.
    expect(w.sim.serverCount()).toBe(10);
    expect(w.sim.requests().filter((r) => r.status === 403)).toEqual([]);

    const leaving = first[0];
    if (!leaving) throw new Error("no first customer");
    const deprovision = await w.requests.requestDeprovision(leaving.customerId);
    if (!deprovision) throw new Error("nothing to deprovision");
    expect(await w.finish(deprovision.operationId)).toMatchObject({ status: "succeeded" });
    expect(await w.finish(eleventh.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.instance(eleventh.instanceId)).toMatchObject({ status: "ready", hetznerProject: "default" });
    expect(waitingLine(w.runtime.db)).toEqual([]);
    expect(customerState(w.runtime.db, eleventh.customerId)).toMatchObject({
      phase: "ready",
      waitingPosition: null,
    });
    w.sim.setServerLimit(null);
  }, 240_000);

  test("a limit the config does not know is learned from Hetzner's error; a delete clears it", async () => {
    const w = fixture.current;
    // The project already holds the 10 servers of the test before; Hetzner allows one more.
    w.sim.setServerLimit(w.sim.serverCount() + 1);
    await w.startWorker(limitedTo(w, null));
    const fits = await provisionReady(w, "fits");
    expect(await w.finish(fits.operationId)).toMatchObject({ status: "succeeded" });

    const refused = await provisionReady(w, "refused");
    await pollUntil(() => w.instance(refused.instanceId).status === WAITING_FOR_CAPACITY, {
      timeoutMs: 30_000,
      description: "the refused customer to wait for capacity",
    });
    expect(w.sim.requests().filter((r) => r.status === 403)).toHaveLength(1);
    const full = w.runtime.db
      .select()
      .from(projectCapacity)
      .where(eq(projectCapacity.project, "default"))
      .get();
    expect(full).toMatchObject({ fullAtLimit: null });

    const deprovision = await w.requests.requestDeprovision(fits.customerId);
    if (!deprovision) throw new Error("nothing to deprovision");
    expect(await w.finish(deprovision.operationId)).toMatchObject({ status: "succeeded" });
    expect(await w.finish(refused.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.runtime.db.select().from(projectCapacity).all()).toEqual([]);
  }, 120_000);

  test("a worker started with a raised limit wakes the line; a cancellation while waiting simply ends it", async () => {
    const w = fixture.current;
    const held = w.sim.serverCount();
    w.sim.setServerLimit(held);
    const first = await w.startWorker(limitedTo(w, held));
    const raised = await provisionReady(w, "raised");
    const cancelled = await provisionReady(w, "cancelled");
    for (const p of [raised, cancelled])
      await pollUntil(() => w.instance(p.instanceId).status === WAITING_FOR_CAPACITY, {
        timeoutMs: 30_000,
        description: `${p.instanceId} to wait for capacity`,
      });
    expect(waitingLine(w.runtime.db).map((e) => e.instanceId)).toEqual([
      raised.instanceId,
      cancelled.instanceId,
    ]);

    const deprovision = await w.requests.requestDeprovision(cancelled.customerId);
    if (!deprovision) throw new Error("nothing to deprovision");
    expect(await w.finish(deprovision.operationId)).toMatchObject({ status: "succeeded" });
    expect(await w.finish(cancelled.operationId)).toMatchObject({
      status: "failed",
      errorStep: "cancel-provision",
    });
    expect(waitingLine(w.runtime.db).map((e) => e.instanceId)).toEqual([raised.instanceId]);

    // The operator gets the limit raised at Hetzner, configures it and restarts the worker: the start wakes the line.
    w.sim.setServerLimit(held + 1);
    await first.stop();
    await w.startWorker(limitedTo(w, held + 1));
    await wakeWaitingAtStart(withServerLimit(w.runtime.config, held + 1), w.runtime.db, silentLog);
    expect(await w.finish(raised.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.sim.serverCount()).toBe(held + 1);
  }, 120_000);
});
