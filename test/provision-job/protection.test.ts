/**
 * protect-server and its inverse against the simulator: the step turns delete protection on (a DELETE then
 * meets 423 protected), its compensation turns it off so the rollback's delete goes through, and both are
 * safe to repeat and to run when the server is already gone.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../../core/log.ts";
import { pollUntil } from "../../core/wait.ts";
import { provisionWorldForFile, simProject } from "../../harness/provision-job/world.ts";
import { isHetznerError } from "../../hetzner/index.ts";
import { hetznerProjects } from "../../jobs/capacity/projects.ts";
import type { ProvisionDeps } from "../../jobs/provision/steps/deps.ts";
import { protectServerStep } from "../../jobs/provision/steps/protect-server.ts";
import type { StepContext } from "../../jobs/step.ts";

const fixture = provisionWorldForFile();

function contextFor(instanceId: string): StepContext {
  return {
    instanceId,
    jobId: `provision:${instanceId}:1`,
    attempt: 1,
    signal: AbortSignal.timeout(30_000),
    log: createLogger({ level: "silent" }),
    waitFor: () => Promise.reject(new Error("protect-server never waits")),
    outputOf: () => {
      throw new Error("protect-server reads no earlier output");
    },
    optionalOutputOf: () => undefined,
  };
}

test("protection blocks a delete until the compensation lifts it; both repeat safely", async () => {
  const w = fixture.current;
  await w.startWorker();
  const { customerId } = w.addCustomer("protection");
  const provision = await w.requests.requestProvision(customerId);
  expect(await w.finish(provision.operationId)).toMatchObject({ status: "succeeded" });
  const serverId = w.instance(provision.instanceId).hetznerServerId ?? -1;
  const step = protectServerStep({
    db: w.runtime.db,
    projects: hetznerProjects([simProject(w.hetzner)]),
  } as ProvisionDeps);
  const ctx = contextFor(provision.instanceId);

  // Already protected by the provision: running the step again changes nothing and succeeds.
  expect(await step.run(ctx)).toEqual({ serverId });
  const refused = await w.hetzner.servers.delete(serverId).catch((err: unknown) => err);
  expect(isHetznerError(refused, "protected")).toBe(true);

  await step.compensate?.(ctx);
  await step.compensate?.(ctx);
  expect((await w.hetzner.servers.get(serverId))?.protection).toEqual({ delete: false, rebuild: false });
  expect(await w.hetzner.servers.delete(serverId)).not.toBeNull();
  await pollUntil(async () => (await w.hetzner.servers.get(serverId)) === null, {
    timeoutMs: 15_000,
    description: "the server to be gone",
  });
  // Gone at Hetzner (not_found): lifting is done, protecting is impossible and says so.
  await step.compensate?.(ctx);
  await expect(step.run(ctx)).rejects.toThrow("has no server to protect");
});
