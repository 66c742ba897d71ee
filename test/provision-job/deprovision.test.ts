/**
 * The deprovision job: protection lifted, server and key gone from Hetzner in 4 requests, nothing decryptable left in the
 * database, safe to repeat, and a provision parked on its callback is cancelled rather than outliving it.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { appDatabasePath } from "../../db/index.ts";
import { customers, operations, stepRuns } from "../../db/schema.ts";
import { CustomerSecretsGoneError } from "../../domain/customers.ts";
import { openOperation } from "../../domain/operations.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { CLOUD_INIT_READY_SIGNAL } from "../../jobs/provision/callback-token.ts";
import { RECONFIGURE_OPERATION } from "../../jobs/reconfigure/request.ts";

describe("deprovision job", () => {
  const fixture = provisionWorldForFile();

  /** Nothing at Hetzner, nothing sealed left for the instance or its customer. */
  async function expectTornDown(instanceId: string, customerId: string) {
    expect(await fixture.current.leftAtHetzner(instanceId)).toEqual({ servers: [], sshKeys: [] });
    expect(fixture.current.instance(instanceId)).toMatchObject({
      status: "deprovisioned",
      hetznerServerId: null,
      sshKeyId: null,
      sshPrivateKey: null,
      callbackToken: null,
    });
    const customer = fixture.current.runtime.db
      .select()
      .from(customers)
      .where(eq(customers.id, customerId))
      .get();
    expect(customer).toMatchObject({ telegramBotToken: null, claudeCredentials: null });
    expect(() => fixture.current.customers.open(customerId)).toThrow(CustomerSecretsGoneError);
  }

  /** The sealed values an instance and its customer hold right now (ciphertext, as stored). */
  function sealedValuesOf(instanceId: string, customerId: string): string[] {
    const instance = fixture.current.instance(instanceId);
    const customer = fixture.current.runtime.db
      .select()
      .from(customers)
      .where(eq(customers.id, customerId))
      .get();
    const values = [
      instance.sshPrivateKey,
      instance.callbackToken,
      customer?.telegramBotToken,
      customer?.claudeCredentials,
    ];
    return values.filter((value): value is string => typeof value === "string");
  }

  /** Not a byte of those ciphertexts is left in the database file or its WAL (free pages included). */
  function expectGoneFromDisk(sealed: readonly string[]) {
    const path = appDatabasePath(fixture.current.runtime.config.dataDir);
    const files = [path, `${path}-wal`].filter((file) => existsSync(file));
    for (const file of files) {
      const bytes = readFileSync(file).toString("latin1");
      for (const value of sealed) expect(bytes.includes(value.split(":").at(-1) ?? value)).toBe(false);
    }
  }

  test("lifts the protection and tears a ready instance down in 4 Hetzner requests; a second deprovision changes nothing", async () => {
    await fixture.current.startWorker();
    const { customerId } = fixture.current.addCustomer("teardown");
    const provision = await fixture.current.requests.requestProvision(customerId);
    expect(await fixture.current.finish(provision.operationId)).toMatchObject({ status: "succeeded" });

    const sealed = sealedValuesOf(provision.instanceId, customerId);
    expect(sealed).toHaveLength(4);
    fixture.current.sim.clearRequests();
    const deprovision = await fixture.current.requests.requestDeprovision(customerId);
    if (!deprovision) throw new Error("nothing to deprovision");
    expect(await fixture.current.finish(deprovision.operationId)).toMatchObject({ status: "succeeded" });
    expect(fixture.current.sim.requests().map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      "POST /servers/{id}/actions/change_protection 201",
      "DELETE /servers/{id} 200",
      "GET /actions 200",
      "DELETE /ssh_keys/{id} 204",
    ]);
    await expectTornDown(provision.instanceId, customerId);
    expectGoneFromDisk(sealed);

    expect(await fixture.current.requests.requestDeprovision(customerId)).toBeNull();
    const again = await fixture.current.runtime.queue.enqueue("deprovision", provision.instanceId);
    expect(again.created).toBe(true);
    expect(await fixture.current.finish(again.jobId)).toMatchObject({ status: "succeeded" });
    await expectTornDown(provision.instanceId, customerId);
  }, 60_000);

  test("a provision parked on its callback is cancelled; it never resumes, and nothing is left", async () => {
    await fixture.current.startWorker();
    fixture.current.sim.faults.add({ kind: "phone_home_never" });
    const { customerId } = fixture.current.addCustomer("inflight");
    const provision = await fixture.current.requests.requestProvision(customerId);
    const provisionOp = () =>
      fixture.current.runtime.db
        .select()
        .from(operations)
        .where(eq(operations.id, provision.operationId))
        .get();
    await pollUntil(() => provisionOp()?.waitSignal === CLOUD_INIT_READY_SIGNAL, {
      timeoutMs: 30_000,
      description: "the provision to park on its callback",
    });

    const deprovision = await fixture.current.requests.requestDeprovision(customerId);
    if (!deprovision) throw new Error("nothing to deprovision");
    expect(await fixture.current.finish(deprovision.operationId)).toMatchObject({ status: "succeeded" });
    expect(provisionOp()).toMatchObject({ status: "failed", errorCode: "cancelled" });
    // The step it was parked in is closed with the operation, not left waiting for good.
    const provisionSteps = fixture.current.runtime.db
      .select({ step: stepRuns.step, status: stepRuns.status, errorCode: stepRuns.errorCode })
      .from(stepRuns)
      .where(eq(stepRuns.operationId, provision.operationId))
      .all();
    expect(provisionSteps.filter((row) => row.status === "waiting" || row.status === "running")).toEqual([]);
    expect(provisionSteps.find((row) => row.step === "await-cloud-init")).toMatchObject({
      status: "interrupted",
      errorCode: "cancelled",
    });
    await expectTornDown(provision.instanceId, customerId);

    // A late callback wakes nothing: the cancelled provision's delivery stops without a step.
    await fixture.current.runtime.queue.signal(provision.instanceId, CLOUD_INIT_READY_SIGNAL, {
      hostKey: "late",
    });
    const followUp = await fixture.current.runtime.queue.enqueue("deprovision", provision.instanceId);
    expect(await fixture.current.finish(followUp.jobId)).toMatchObject({ status: "succeeded" });
    expect(provisionOp()).toMatchObject({ status: "failed", errorCode: "cancelled" });
    await expectTornDown(provision.instanceId, customerId);
  }, 60_000);

  test("a reconfigure still queued is cancelled too: it never reaches for the shredded secrets", async () => {
    await fixture.current.startWorker();
    const { customerId } = fixture.current.addCustomer("queued-reconfigure");
    const provision = await fixture.current.requests.requestProvision(customerId);
    expect(await fixture.current.finish(provision.operationId)).toMatchObject({ status: "succeeded" });
    // Recorded but not yet handed to the broker: what a reconfigure waiting behind the deprovision looks like.
    const { db } = fixture.current.runtime;
    const reconfigure = openOperation(db, RECONFIGURE_OPERATION, provision.instanceId, Date.now());

    const deprovision = await fixture.current.requests.requestDeprovision(customerId);
    if (!deprovision) throw new Error("nothing to deprovision");
    expect(await fixture.current.finish(deprovision.operationId)).toMatchObject({ status: "succeeded" });
    expect(db.select().from(operations).where(eq(operations.id, reconfigure.id)).get()).toMatchObject({
      status: "failed",
      errorCode: "cancelled",
    });
    await expectTornDown(provision.instanceId, customerId);
  }, 60_000);
});
