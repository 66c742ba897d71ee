/**
 * A machineless server (sim/machineless) carries a provision to ready through the real services: the
 * simulator phones home from the server's address and answers the provisioner's SSH (first-boot check,
 * injection, Claude login, unit checks) in-process; a deprovision then leaves nothing behind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { followOperation } from "../../cli/follow-operation.ts";
import { checkLeftovers } from "../../cli/leftovers.ts";
import { type SimulatedStack, startSimulatedStack } from "../../cli/simulated-stack.ts";
import { instances } from "../../db/schema.ts";
import { createCustomerStore } from "../../domain/customers.ts";
import { createRequests } from "../../domain/requests.ts";
import { createHetznerClient } from "../../hetzner/client.ts";
import { RateLimitBudget } from "../../hetzner/rate-limit.ts";

let world: SimulatedStack;
let dataDir = "";
const customerId = "machineless-customer";

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "rachel-machineless-"));
  world = await startSimulatedStack({
    dataDir,
    timeScale: 0.01,
    machines: "machineless",
    env: { LOG_LEVEL: "warn", VERIFY_SETTLE_MS: "300" },
    onLine: () => undefined,
  });
}, 60_000);
afterAll(async () => {
  await world?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test("a provision reaches ready on a machineless server; a deprovision cleans it", async () => {
  const customers = createCustomerStore({ db: world.db, sealer: world.sealer });
  const requests = createRequests({ db: world.db, queue: world.queue });
  customers.upsert(customerId, fakeCustomerSecrets("machineless"));
  const provision = await requests.requestProvision(customerId);
  const done = await followOperation(world.db, provision.operationId, {
    timeoutMs: 30_000,
    onStep: () => undefined,
  });
  expect({ status: done.status, error: done.errorMessage }).toEqual({ status: "succeeded", error: null });
  const row = world.db.select().from(instances).where(eq(instances.id, provision.instanceId)).get();
  expect(row?.status).toBe("ready");
  const [machine] = world.sim.machines.list();
  const view = machine?.view();
  // No disk: nothing was run anywhere for this server.
  expect(view?.sandboxDir).toBe("");
  expect(view?.cloudInit.state).toBe("done");
  expect(view?.cloudInit.phoneHome.deliveredAt).toEqual(expect.any(String));
  // The host key SSH pinned is the one the machineless server presented in its callback.
  expect(view?.hostKeyEd25519.startsWith(row?.reportedHostKey ?? "missing")).toBe(true);
  // The bundle named in the user-data is what the first-boot check reported.
  expect(row?.bundleId ?? null).not.toBeNull();

  const deprovision = await requests.requestDeprovision(customerId);
  if (!deprovision) throw new Error("no live instance to deprovision");
  const gone = await followOperation(world.db, deprovision.operationId, {
    timeoutMs: 30_000,
    onStep: () => undefined,
  });
  expect(gone.status).toBe("succeeded");
  const hetzner = createHetznerClient({
    endpoint: world.sim.endpoint,
    token: world.sim.token,
    budget: new RateLimitBudget(),
  });
  const checks = await checkLeftovers({
    db: world.db,
    hetzner,
    customerId,
    instanceId: provision.instanceId,
  });
  expect(checks.filter((check) => !check.ok)).toEqual([]);
  expect(world.sim.serverCount()).toBe(0);
  expect(world.sim.machines.list()).toEqual([]);
}, 60_000);
