/**
 * The provision job end to end on the runner, against the simulator's fake machines: what lands on the
 * machine, how many Hetzner requests it costs, and that secrets go nowhere but the machine.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import type { Sealer } from "../../core/secrets.ts";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import type { CustomerSecrets } from "../../domain/customers.ts";
import { APP_HOME } from "../../domain/ownership.ts";
import { RACHEL8_PATHS } from "../../domain/rachel8.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { sshPrivateKeyContext } from "../../jobs/shared/instance-row.ts";

/** Every secret value of a customer, as it must never appear outside the machine. */
function secretValues(secrets: CustomerSecrets): string[] {
  return [secrets.telegramBotToken, secrets.claude.accessToken, secrets.claude.refreshToken];
}

describe("provision job", () => {
  const fixture = provisionWorldForFile();

  test("happy path: secrets land in the machine (0600), the server is delete-protected, 4 Hetzner requests, then 3 once the firewall is cached", async () => {
    await fixture.current.startWorker();
    const { customerId, secrets } = fixture.current.addCustomer("happy");
    fixture.current.sim.clearRequests();
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "succeeded", errorMessage: null });
    expect(summary.phases.map((p) => p.step)).toEqual([
      "ssh-key",
      "firewall",
      "create-server",
      "await-cloud-init",
      "inject-secrets",
      "verify",
      "protect-server",
      "finalize",
    ]);
    const first = fixture.current.sim.requests().map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(first).toEqual([
      "POST /ssh_keys 201",
      "POST /firewalls 201",
      "POST /servers 201",
      "POST /servers/{id}/actions/change_protection 201",
    ]);

    const dataDir = fixture.current.runtime.config.dataDir;
    const instance = fixture.current.instance(requested.instanceId);
    expect(instance).toMatchObject({ status: "ready", serverName: `rachel-${requested.instanceId}` });
    const server = await fixture.current.hetzner.servers.get(instance.hetznerServerId ?? -1);
    expect(server?.protection).toEqual({ delete: true, rebuild: true });
    expect(instance.location).toBe("nbg1");
    const machine = fixture.current.sim.machines.get(instance.hetznerServerId ?? -1)?.view();
    if (!machine) throw new Error("no machine behind the server");
    expect(instance.ipv4).toBe(machine.address);
    // It booted the current bundle, fetched from the control plane (its box reaches no other host).
    const current = await createBundleStore(bundleStoreDir(dataDir)).current();
    expect(instance.bundleId).toBe(current.x64 ?? "none");
    expect(readFileSync(join(machine.sandboxDir, "var/log/cloud-init-output.log"), "utf8")).toContain(
      `boot-from-bundle: release ${current.x64} at /opt/rachel8/current\n`,
    );
    const env = join(machine.sandboxDir, APP_HOME, RACHEL8_PATHS.env);
    const credentials = join(machine.sandboxDir, APP_HOME, RACHEL8_PATHS.credentials);
    expect(statSync(env).mode & 0o777).toBe(0o600);
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(readFileSync(env, "utf8")).toContain(`TELEGRAM_BOT_TOKEN=${secrets.telegramBotToken}`);
    expect(JSON.parse(readFileSync(credentials, "utf8")).claudeAiOauth.accessToken).toBe(
      secrets.claude.accessToken,
    );

    // Secrets travelled over SSH stdin only: not in user-data, logs, or either database file.
    const brokerFiles = readdirSync(dataDir)
      .filter((name) => statSync(join(dataDir, name)).isFile())
      .map((name) => readFileSync(join(dataDir, name)).toString("latin1"));
    const outside = [
      machine.userData ?? "",
      JSON.stringify(fixture.current.runtime.logs),
      ...brokerFiles,
    ].join("\n");
    for (const secret of secretValues(secrets)) expect(outside).not.toContain(secret);

    const second = fixture.current.addCustomer("steady");
    fixture.current.sim.clearRequests();
    const again = await fixture.current.requests.requestProvision(second.customerId);
    expect(await fixture.current.finish(again.operationId)).toMatchObject({ status: "succeeded" });
    expect(fixture.current.sim.requests().map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /ssh_keys",
      "POST /servers",
      "POST /servers/{id}/actions/change_protection",
    ]);
  }, 60_000);

  test("inject-secrets hands its SSH session to verify: one handshake per provision", async () => {
    const { customerId } = fixture.current.addCustomer("handover");
    const openedContexts: string[] = [];
    // Every new SSH connection unseals the instance's private key first; a reused one does not.
    const { sealer } = fixture.current;
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
    await fixture.current.startWorker({ sealer: countingSealer });
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary.status).toBe("succeeded");
    const keyContext = sshPrivateKeyContext(requested.instanceId);
    expect(openedContexts.filter((context) => context === keyContext)).toHaveLength(1);
  });

  test("duplicate provision requests share one operation and make one server", async () => {
    await fixture.current.startWorker();
    const { customerId } = fixture.current.addCustomer("dup");
    const servers = fixture.current.sim.serverCount();
    const [a, b] = await Promise.all([
      fixture.current.requests.requestProvision(customerId),
      fixture.current.requests.requestProvision(customerId),
    ]);
    expect(b.operationId).toBe(a.operationId);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(await fixture.current.finish(a.operationId)).toMatchObject({ status: "succeeded" });
    const repeat = await fixture.current.requests.requestProvision(customerId);
    expect(repeat).toMatchObject({ instanceId: a.instanceId, created: false });
    expect(fixture.current.sim.serverCount()).toBe(servers + 1);
  }, 60_000);

  test("a host key other than the reported one is refused before any secret is sent; all is rolled back", async () => {
    await fixture.current.startWorker();
    fixture.current.callback.reportHostKey = generateSshKeyPair("impostor").publicKey.replace(
      / impostor$/,
      "",
    );
    const { customerId } = fixture.current.addCustomer("mitm");
    const servers = fixture.current.sim.serverCount();
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "inject-secrets" });
    expect(summary.errorMessage).toContain("expected SHA256:");
    const instance = fixture.current.instance(requested.instanceId);
    expect(instance).toMatchObject({
      status: "failed",
      errorCode: "host_key_mismatch",
      hetznerServerId: null,
    });
    // Refused during the handshake, before authentication; the server and key were then rolled back.
    expect(fixture.current.sim.serverCount()).toBe(servers);
    const keys = await fixture.current.hetzner.sshKeys.listAll({ name: `rachel-${requested.instanceId}` });
    expect(keys).toEqual([]);
  }, 60_000);

  test("a re-run after a failure past the callback creates a new server whose own callback is accepted", async () => {
    await fixture.current.startWorker({ settings: { cloudInitTimeoutMs: 10_000 } });
    fixture.current.callback.reportHostKey = generateSshKeyPair("impostor").publicKey.replace(
      / impostor$/,
      "",
    );
    const { customerId } = fixture.current.addCustomer("rerun");
    const requested = await fixture.current.requests.requestProvision(customerId);
    expect(await fixture.current.finish(requested.operationId)).toMatchObject({ status: "failed" });
    fixture.current.callback.reportHostKey = undefined;
    const rerun = await fixture.current.runtime.queue.retry(requested.instanceId, "provision");
    expect(await fixture.current.finish(rerun.jobId)).toMatchObject({ status: "succeeded" });
    expect(fixture.current.instance(requested.instanceId)).toMatchObject({ status: "ready" });
  }, 60_000);

  test("capacity fallback: the first location refuses, the next one gets the server", async () => {
    await fixture.current.startWorker();
    fixture.current.sim.faults.add({ kind: "location_unavailable", location: "nbg1" });
    const { customerId } = fixture.current.addCustomer("fallback");
    const requested = await fixture.current.requests.requestProvision(customerId);
    expect(await fixture.current.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    expect(fixture.current.instance(requested.instanceId).location).toBe("fsn1");
  }, 60_000);

  test("a 429 storm is absorbed by the client's backoff", async () => {
    await fixture.current.startWorker();
    fixture.current.sim.faults.add({ kind: "error", status: 429, code: "rate_limit_exceeded", times: 4 });
    const { customerId } = fixture.current.addCustomer("storm");
    fixture.current.sim.clearRequests();
    const requested = await fixture.current.requests.requestProvision(customerId);
    expect(await fixture.current.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    const statuses = fixture.current.sim.requests().map((r) => r.status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    expect(statuses.filter((s) => s !== 429)).toHaveLength(3);
  }, 60_000);
});
