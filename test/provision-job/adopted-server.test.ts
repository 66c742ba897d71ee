/**
 * A retry that finds a server under the instance's name: one that can still phone home is adopted, one that
 * never will (its boot is over, or its create/start action failed) is replaced, never waited on.
 */
import { describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { stepRuns } from "../../db/schema.ts";
import { retryOperation } from "../../domain/ops/retry.ts";
import { provisionWorldForFile, simProject } from "../../harness/provision-job/world.ts";
import { type HetznerClient, HetznerNetworkError } from "../../hetzner/index.ts";
import { hetznerProjects } from "../../jobs/capacity/projects.ts";
import { CLOUD_INIT_READY_SIGNAL } from "../../jobs/provision/callback-token.ts";
import { type CreateServerOutput, createServerRef } from "../../jobs/provision/steps/create-server.ts";

describe("adopted servers", () => {
  const fixture = provisionWorldForFile();

  function createServerOutputs(operationId: string): CreateServerOutput[] {
    return fixture.current.runtime.db
      .select({ output: stepRuns.output })
      .from(stepRuns)
      .where(
        and(
          eq(stepRuns.operationId, operationId),
          eq(stepRuns.step, createServerRef.name),
          eq(stepRuns.status, "succeeded"),
        ),
      )
      .all()
      .map((row) => createServerRef.output.parse(JSON.parse(row.output ?? "null")));
  }

  test("a retry after a rollback that could not delete the server replaces it and reaches ready", async () => {
    const world = fixture.current;
    const cloudInitTimeoutMs = 5_000;
    await world.startWorker({ actionCheckAfterMs: 1_000, settings: { cloudInitTimeoutMs } });
    world.sim.faults.add({ kind: "phone_home_never" });
    world.sim.faults.add({ kind: "action_error", command: "delete_server", times: Infinity });
    const { customerId } = world.addCustomer("undeleted");
    const requested = await world.requests.requestProvision(customerId);
    const failed = await world.finish(requested.operationId);
    expect(failed).toMatchObject({ status: "failed", errorStep: "await-cloud-init" });
    const [left] = (await world.leftAtHetzner(requested.instanceId)).servers;
    expect(left).toBeDefined();

    // The outage is over; the server that never phoned home is still there.
    world.sim.faults.clear();
    const retriedAt = Date.now();
    await retryOperation(world.runtime.db, world.runtime.queue, requested.instanceId);
    const summary = await world.finish(requested.operationId);
    expect(summary.status).toBe("succeeded");
    // Replaced rather than waited on: within one boot's deadline (a wait would have spent all of it, then failed).
    const retryMs = Date.now() - retriedAt;
    console.info(`retry after the undeleted server: ready in ${retryMs} ms`);
    expect(retryMs).toBeLessThan(cloudInitTimeoutMs);
    const { servers } = await world.leftAtHetzner(requested.instanceId);
    expect(servers).toHaveLength(1);
    expect(servers[0]?.id).not.toBe(left?.id);
    expect(world.instance(requested.instanceId).hetznerServerId).toBe(servers[0]?.id ?? -1);
    const replaced = createServerOutputs(requested.operationId).at(-1)?.replaced;
    expect(replaced?.serverId).toBe(left?.id ?? -1);
    expect(replaced?.reason).toContain("never phoned home");
  }, 90_000);

  test("a callback left unused by a server that is gone never satisfies a new server's wait", async () => {
    const world = fixture.current;
    const { customerId } = world.addCustomer("stale");
    const requested = await world.requests.requestProvision(customerId);
    // An earlier server's report that no wait took (it came after its operation gave up), with its host key.
    const staleKey = generateSshKeyPair("stale").publicKey.split(" ").slice(0, 2).join(" ");
    await world.runtime.queue.signal(requested.instanceId, CLOUD_INIT_READY_SIGNAL, { hostKey: staleKey });
    await world.startWorker();
    expect(await world.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    expect(world.instance(requested.instanceId).reportedHostKey).not.toBe(staleKey);
  }, 90_000);

  test("an adopted server whose create_server action failed is replaced, naming that action", async () => {
    const world = fixture.current;
    let lost = false;
    const real = world.hetzner;
    const lossy: HetznerClient = {
      ...real,
      servers: {
        ...real.servers,
        async create(input, options) {
          const created = await real.servers.create(input, options);
          if (lost) return created;
          lost = true;
          throw new HetznerNetworkError("POST /servers", new Error("connection reset before the answer"));
        },
      },
    };
    await world.startWorker({
      projects: hetznerProjects([simProject(lossy)]),
      actionCheckAfterMs: 1_000,
      settings: { cloudInitTimeoutMs: 3_000 },
    });
    world.sim.faults.add({ kind: "action_error", command: "create_server" });
    const { customerId } = world.addCustomer("badcreate");
    const requested = await world.requests.requestProvision(customerId);
    const summary = await world.finish(requested.operationId);
    expect(summary.status).toBe("succeeded");
    expect((await world.leftAtHetzner(requested.instanceId)).servers).toHaveLength(1);
    const replaced = createServerOutputs(requested.operationId).at(-1)?.replaced;
    expect(replaced?.reason).toContain("create_server failed");
  }, 90_000);
});
