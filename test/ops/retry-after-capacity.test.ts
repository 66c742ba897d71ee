/**
 * The 3 a.m. story end to end: a provision fails for good because no location has capacity; the operator
 * sees why with `ops status` and `ops instance`, capacity comes back, `ops retry <instanceId>` resumes the
 * same operation and it succeeds with exactly ONE server at Hetzner; then `ops deprovision` tears it down.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { OPS_TOKEN, type OpsApi, startOpsApi } from "./ops-api.ts";
import { runOps } from "./run-ops.ts";

const fixture = provisionWorldForFile();
let ops: OpsApi;
beforeAll(() => {
  ops = startOpsApi(fixture.current.runtime);
});
afterAll(async () => {
  await ops.api.stop(100);
});

const cli = (...args: string[]) => runOps(args, { OPS_API_URL: ops.api.url, OPS_TOKEN });

test("no capacity anywhere fails the provision; after capacity returns, ops retry succeeds with one server; ops deprovision removes it", async () => {
  const world = fixture.current;
  await world.startWorker();
  for (const location of ["nbg1", "fsn1", "hel1"])
    world.sim.faults.add({ kind: "location_unavailable", location });
  const { customerId } = world.addCustomer("nocapacity");
  const requested = await world.requests.requestProvision(customerId);
  const { instanceId } = requested;
  // create-server retries no_capacity 4 times (backoff 2 + 4 + 8 s in the harness) before failing for good.
  expect(await world.finish(requested.operationId)).toMatchObject({
    status: "failed",
    errorStep: "create-server",
  });
  expect(world.instance(instanceId)).toMatchObject({ status: "failed", errorCode: "no_capacity" });

  const status = await cli("status");
  expect(status).toMatchObject({ exitCode: 0, stderr: "" });
  expect(status.stdout).toMatch(/failed\s+1/);
  const shown = await cli("instance", instanceId);
  expect(shown.exitCode).toBe(0);
  expect(shown.stdout).toContain(`instance ${instanceId}`);
  expect(shown.stdout).toMatch(
    /create-server\s+failed\s+4\s+\d+\s+no_capacity: no capacity for cx23 in any of nbg1, fsn1, hel1/,
  );
  const failedJobs = await cli("jobs", "--failed");
  expect(failedJobs.stdout).toContain(requested.operationId);

  world.sim.faults.clear();
  world.sim.clearRequests();
  const serversBefore = world.sim.serverCount();
  const retried = await cli("retry", instanceId);
  expect(retried).toMatchObject({ exitCode: 0, stderr: "" });
  expect(retried.stdout).toContain(
    `re-running ${requested.operationId} on instance ${instanceId} from its failed step create-server`,
  );
  expect(await world.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
  expect(world.instance(instanceId).status).toBe("ready");
  expect((await world.leftAtHetzner(instanceId)).servers).toHaveLength(1);
  expect(world.sim.serverCount()).toBe(serversBefore + 1);
  const creates = world.sim.requests().filter((r) => r.method === "POST" && r.path === "/servers");
  expect(creates.map((r) => r.status)).toEqual([201]);

  const again = await cli("retry", instanceId);
  expect(again.exitCode).toBe(1);
  expect(again.stderr).toContain("nothing_to_retry (HTTP 409)");

  const deprovisioned = await cli("deprovision", instanceId);
  expect(deprovisioned).toMatchObject({ exitCode: 0, stderr: "" });
  expect(deprovisioned.stdout).toContain(
    `deprovision of instance ${instanceId} requested: job deprovision:${instanceId}:1`,
  );
  expect(await world.finish(`deprovision:${instanceId}:1`)).toMatchObject({ status: "succeeded" });
  expect(await world.leftAtHetzner(instanceId)).toEqual({ servers: [], sshKeys: [] });
  expect(world.instance(instanceId).status).toBe("deprovisioned");
}, 90_000);
