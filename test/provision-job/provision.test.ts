/**
 * The provision job end to end on the runner, against the simulator's fake machines: what lands on the
 * machine, how many Hetzner requests it costs, and that secrets go nowhere but the machine.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Sealer } from "../../core/secrets.ts";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import type { CustomerSecrets } from "../../jobs/customers.ts";
import { RACHEL8_PATHS } from "../../jobs/provision/rachel8.ts";
import { sshPrivateKeyContext } from "../../jobs/provision/steps/instance-row.ts";
import { APP_HOME } from "../../jobs/provision/steps/ownership.ts";
import type { RunningWorker } from "../../worker/start.ts";
import { type ProvisionWorld, startProvisionWorld } from "./world.ts";

/** Every secret value of a customer, as it must never appear outside the machine. */
function secretValues(secrets: CustomerSecrets): string[] {
  return [secrets.telegramBotToken, secrets.claude.accessToken, secrets.claude.refreshToken];
}

describe("provision job", () => {
  let world: ProvisionWorld;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    world = await startProvisionWorld();
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    world.sim.faults.clear();
    world.callback.reportHostKey = undefined;
  });
  afterAll(async () => {
    await world?.dispose();
  });

  test("happy path: secrets land in the machine (0600), 3 Hetzner requests, then 2 once the firewall is cached", async () => {
    worker = await world.startWorker();
    const { customerId, secrets } = world.addCustomer("happy");
    world.sim.clearRequests();
    const requested = await world.requests.requestProvision(customerId);
    const summary = await world.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "succeeded", errorMessage: null });
    expect(summary.phases.map((p) => p.step)).toEqual([
      "ssh-key",
      "firewall",
      "create-server",
      "await-cloud-init",
      "inject-secrets",
      "verify",
      "finalize",
    ]);
    const first = world.sim.requests().map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(first).toEqual(["POST /ssh_keys 201", "POST /firewalls 201", "POST /servers 201"]);

    const instance = world.instance(requested.instanceId);
    expect(instance).toMatchObject({ status: "ready", serverName: `rachel-${requested.instanceId}` });
    expect(instance.location).toBe("nbg1");
    const machine = world.sim.machines.get(instance.hetznerServerId ?? -1)?.view();
    if (!machine) throw new Error("no machine behind the server");
    expect(instance.ipv4).toBe(machine.address);
    const env = join(machine.sandboxDir, APP_HOME, RACHEL8_PATHS.env);
    const credentials = join(machine.sandboxDir, APP_HOME, RACHEL8_PATHS.credentials);
    expect(statSync(env).mode & 0o777).toBe(0o600);
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(readFileSync(env, "utf8")).toContain(`TELEGRAM_BOT_TOKEN=${secrets.telegramBotToken}`);
    expect(JSON.parse(readFileSync(credentials, "utf8")).claudeAiOauth.accessToken).toBe(
      secrets.claude.accessToken,
    );

    // Secrets travelled over SSH stdin only: not in user-data, logs, or either database file.
    const brokerFiles = readdirSync(world.runtime.config.dataDir).map((name) =>
      readFileSync(join(world.runtime.config.dataDir, name)).toString("latin1"),
    );
    const outside = [machine.userData ?? "", JSON.stringify(world.runtime.logs), ...brokerFiles].join("\n");
    for (const secret of secretValues(secrets)) expect(outside).not.toContain(secret);

    const second = world.addCustomer("steady");
    world.sim.clearRequests();
    const again = await world.requests.requestProvision(second.customerId);
    expect(await world.finish(again.operationId)).toMatchObject({ status: "succeeded" });
    expect(world.sim.requests().map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /ssh_keys",
      "POST /servers",
    ]);
  }, 60_000);

  test("inject-secrets hands its SSH session to verify: one handshake per provision", async () => {
    const { customerId } = world.addCustomer("handover");
    const openedContexts: string[] = [];
    // Every new SSH connection unseals the instance's private key first; a reused one does not.
    const { sealer } = world;
    const countingSealer: Sealer = {
      currentKeyId: sealer.currentKeyId,
      seal: (plaintext, context) => sealer.seal(plaintext, context),
      open(sealed, context) {
        openedContexts.push(context);
        return sealer.open(sealed, context);
      },
      needsRotation: (sealed) => sealer.needsRotation(sealed),
      reseal: (sealed, context) => sealer.reseal(sealed, context),
    };
    worker = await world.startWorker({ sealer: countingSealer });
    const requested = await world.requests.requestProvision(customerId);
    const summary = await world.finish(requested.operationId);
    expect(summary.status).toBe("succeeded");
    const keyContext = sshPrivateKeyContext(requested.instanceId);
    expect(openedContexts.filter((context) => context === keyContext)).toHaveLength(1);
  });

  test("duplicate provision requests share one operation and make one server", async () => {
    worker = await world.startWorker();
    const { customerId } = world.addCustomer("dup");
    const servers = world.sim.serverCount();
    const [a, b] = await Promise.all([
      world.requests.requestProvision(customerId),
      world.requests.requestProvision(customerId),
    ]);
    expect(b.operationId).toBe(a.operationId);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(await world.finish(a.operationId)).toMatchObject({ status: "succeeded" });
    const repeat = await world.requests.requestProvision(customerId);
    expect(repeat).toMatchObject({ instanceId: a.instanceId, created: false });
    expect(world.sim.serverCount()).toBe(servers + 1);
  }, 60_000);

  test("a host key other than the reported one is refused before any secret is sent; all is rolled back", async () => {
    worker = await world.startWorker();
    world.callback.reportHostKey = generateSshKeyPair("impostor").publicKey.replace(/ impostor$/, "");
    const { customerId } = world.addCustomer("mitm");
    const servers = world.sim.serverCount();
    const requested = await world.requests.requestProvision(customerId);
    const summary = await world.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "inject-secrets" });
    expect(summary.errorMessage).toContain("expected SHA256:");
    const instance = world.instance(requested.instanceId);
    expect(instance).toMatchObject({
      status: "failed",
      errorCode: "host_key_mismatch",
      hetznerServerId: null,
    });
    // Refused during the handshake, before authentication; the server and key were then rolled back.
    expect(world.sim.serverCount()).toBe(servers);
    const keys = await world.hetzner.sshKeys.listAll({ name: `rachel-${requested.instanceId}` });
    expect(keys).toEqual([]);
  }, 60_000);

  test("a re-run after a failure past the callback creates a new server whose own callback is accepted", async () => {
    worker = await world.startWorker({ settings: { cloudInitTimeoutMs: 10_000 } });
    world.callback.reportHostKey = generateSshKeyPair("impostor").publicKey.replace(/ impostor$/, "");
    const { customerId } = world.addCustomer("rerun");
    const requested = await world.requests.requestProvision(customerId);
    expect(await world.finish(requested.operationId)).toMatchObject({ status: "failed" });
    world.callback.reportHostKey = undefined;
    const rerun = await world.runtime.queue.retry(requested.instanceId, "provision");
    expect(await world.finish(rerun.jobId)).toMatchObject({ status: "succeeded" });
    expect(world.instance(requested.instanceId)).toMatchObject({ status: "ready" });
  }, 60_000);

  test("capacity fallback: the first location refuses, the next one gets the server", async () => {
    worker = await world.startWorker();
    world.sim.faults.add({ kind: "location_unavailable", location: "nbg1" });
    const { customerId } = world.addCustomer("fallback");
    const requested = await world.requests.requestProvision(customerId);
    expect(await world.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    expect(world.instance(requested.instanceId).location).toBe("fsn1");
  }, 60_000);

  test("a 429 storm is absorbed by the client's backoff", async () => {
    worker = await world.startWorker();
    world.sim.faults.add({ kind: "error", status: 429, code: "rate_limit_exceeded", times: 4 });
    const { customerId } = world.addCustomer("storm");
    world.sim.clearRequests();
    const requested = await world.requests.requestProvision(customerId);
    expect(await world.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    const statuses = world.sim.requests().map((r) => r.status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    expect(statuses.filter((s) => s !== 429)).toHaveLength(2);
  }, 60_000);
});
