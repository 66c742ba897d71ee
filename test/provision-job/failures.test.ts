/**
 * The provision job when things go wrong at Hetzner or on the machine: each failure ends with the
 * instance failed (step and reason recorded) and nothing left at Hetzner; a lost answer is adopted.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import { provisionWorldForFile, simProject } from "../../harness/provision-job/world.ts";
import { type HetznerClient, HetznerNetworkError } from "../../hetzner/index.ts";
import { hetznerProjects } from "../../jobs/capacity/projects.ts";

describe("provision job failures", () => {
  const fixture = provisionWorldForFile();

  /** Nothing of the instance left at Hetzner: no server, no SSH key under its name. */
  async function expectNothingAtHetzner(instanceId: string) {
    expect(await fixture.current.leftAtHetzner(instanceId)).toEqual({ servers: [], sshKeys: [] });
  }

  test("callback never arrives: the deadline fails the instance, naming what was pending, and rolls back", async () => {
    await fixture.current.startWorker({
      actionCheckAfterMs: 500,
      settings: { cloudInitTimeoutMs: 2_000 },
    });
    fixture.current.sim.faults.add({ kind: "phone_home_never" });
    const { customerId } = fixture.current.addCustomer("silent");
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "await-cloud-init" });
    expect(summary.errorMessage).toContain("sent no cloud-init callback within 2000 ms");
    expect(fixture.current.instance(requested.instanceId)).toMatchObject({
      status: "failed",
      errorCode: "wait_timeout",
      hetznerServerId: null,
      sshKeyId: null,
    });
    await expectNothingAtHetzner(requested.instanceId);
  }, 60_000);

  test("a failed start_server is caught by the one action check, long before the callback deadline", async () => {
    await fixture.current.startWorker({
      actionCheckAfterMs: 1_500,
      settings: { cloudInitTimeoutMs: 50_000 },
    });
    fixture.current.sim.faults.add({ kind: "action_error", command: "start_server" });
    const { customerId } = fixture.current.addCustomer("nostart");
    fixture.current.sim.clearRequests();
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId, 30_000);
    expect(summary).toMatchObject({ status: "failed", errorStep: "await-cloud-init" });
    expect(summary.errorMessage).toContain("start_server");
    expect(fixture.current.instance(requested.instanceId).errorCode).toBe("action_failed");
    const calls = fixture.current.sim.requests().map((r) => `${r.method} ${r.path}`);
    const beforeRollback = calls.slice(0, calls.indexOf("DELETE /servers/{id}"));
    expect(beforeRollback.filter((call) => call === "GET /actions")).toHaveLength(1);
    await expectNothingAtHetzner(requested.instanceId);
  }, 60_000);

  test("the project's server limit fails at once with an operator's message; the key is rolled back", async () => {
    await fixture.current.startWorker();
    fixture.current.sim.faults.add({ kind: "server_limit" });
    const { customerId } = fixture.current.addCustomer("limit");
    fixture.current.sim.clearRequests();
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "create-server" });
    expect(summary.errorMessage).toContain("server limit is reached");
    expect(fixture.current.instance(requested.instanceId).errorCode).toBe("resource_limit_exceeded");
    // Permanent: one POST /servers, no retry of it.
    expect(
      fixture.current.sim.requests().filter((r) => r.method === "POST" && r.path === "/servers"),
    ).toHaveLength(1);
    await expectNothingAtHetzner(requested.instanceId);
  }, 60_000);

  test("an answer lost after the server was created: the retry meets uniqueness_error and adopts the booting server", async () => {
    let lost = false;
    const real = fixture.current.hetzner;
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
    await fixture.current.startWorker({ projects: hetznerProjects([simProject(lossy)]) });
    const { customerId } = fixture.current.addCustomer("lost");
    const servers = fixture.current.sim.serverCount();
    fixture.current.sim.clearRequests();
    const requested = await fixture.current.requests.requestProvision(customerId);
    expect(await fixture.current.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
    expect(fixture.current.sim.serverCount()).toBe(servers + 1);
    // Creates and the adoption's look-ups; the protection the ready server gets is not part of it.
    const creates = fixture.current.sim
      .requests()
      .filter((r) => r.path === "/servers" || r.path === "/servers/{id}/actions");
    expect(creates.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      "POST /servers 201",
      "POST /servers 409",
      "GET /servers 200",
      "GET /servers/{id}/actions 200",
    ]);
    const [server] = await real.servers.listAll({ name: `rachel-${requested.instanceId}` });
    expect(fixture.current.instance(requested.instanceId).hetznerServerId).toBe(server?.id ?? -1);
  }, 60_000);

  test("bytes that are not the bundle fail the boot's checksum: the first-boot check says so, the server goes", async () => {
    const store = createBundleStore(bundleStoreDir(fixture.current.runtime.config.dataDir));
    const archive = store.archivePath((await store.current()).x64 ?? "");
    const original = readFileSync(archive);
    // Same size, one byte changed: what a corrupted disk or a tampering proxy would serve.
    const altered = Buffer.from(original);
    altered[altered.length - 1] = (altered[altered.length - 1] ?? 0) ^ 0xff;
    writeFileSync(archive, altered);
    try {
      await fixture.current.startWorker();
      const { customerId } = fixture.current.addCustomer("corrupt");
      const requested = await fixture.current.requests.requestProvision(customerId);
      const summary = await fixture.current.finish(requested.operationId);
      expect(summary).toMatchObject({ status: "failed", errorStep: "inject-secrets" });
      expect(summary.errorMessage).toContain("first boot failed (setup marker");
      expect(summary.errorMessage).toContain(
        "boot-from-bundle: bundle checksum mismatch: the download is not bundle",
      );
      expect(fixture.current.instance(requested.instanceId)).toMatchObject({
        errorCode: "first_boot_failed",
        hetznerServerId: null,
        bundleId: null,
      });
      await expectNothingAtHetzner(requested.instanceId);
    } finally {
      writeFileSync(archive, original);
    }
  }, 60_000);

  test("no current bundle: create-server fails for good, telling the operator to run bun run bundle", async () => {
    const current = join(bundleStoreDir(fixture.current.runtime.config.dataDir), "current.json");
    const original = readFileSync(current);
    writeFileSync(current, "{}");
    try {
      await fixture.current.startWorker();
      const { customerId } = fixture.current.addCustomer("nobundle");
      const requested = await fixture.current.requests.requestProvision(customerId);
      const summary = await fixture.current.finish(requested.operationId);
      expect(summary).toMatchObject({ status: "failed", errorStep: "create-server" });
      expect(summary.errorMessage).toBe(
        "no app bundle for x64 servers (cx23): run `bun run bundle` on the control plane, then retry",
      );
      expect(fixture.current.instance(requested.instanceId)).toMatchObject({ errorCode: "no_bundle" });
      await expectNothingAtHetzner(requested.instanceId);
    } finally {
      writeFileSync(current, original);
    }
  }, 60_000);
});
