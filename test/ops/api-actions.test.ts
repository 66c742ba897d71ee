/**
 * The ops API's actions: retry by instance or job id, deprovision and upgrade by instance id, and a broker
 * that is down.
 */
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { bundleStoreDir } from "../../bundle/store.ts";
import { bundleGrants, operations } from "../../db/schema.ts";
import { freePorts } from "../../harness/support/processes.ts";
import { brokerConnection, connectJobQueue } from "../../queue/queue.ts";
import { ensureStandInBundle } from "../../sim/bundle/stand-in.ts";
import { OPS_TOKEN, opsApiForFile, startOpsApi } from "./ops-api.ts";
import { seedInstance, seedOperation } from "./seed.ts";

const world = opsApiForFile();
const T0 = Date.UTC(2026, 10, 26, 5, 0, 0);

describe("retry and deprovision", () => {
  test("retry: unknown id 404, a succeeded job 409, a replaced one 409, a failed one resumes from its failed step", async () => {
    const { db } = world.runtime;
    expect((await world.ops.call("POST", "/v1/ops/retry/inope")).status).toBe(404);

    const done = seedInstance(db, { createdAt: T0 + 300_000 });
    seedOperation(db, { instanceId: done, createdAt: T0 + 300_000 });
    const succeeded = await world.ops.call("POST", `/v1/ops/retry/${done}`);
    expect({ status: succeeded.status, code: succeeded.body.code }).toEqual({
      status: 409,
      code: "nothing_to_retry",
    });

    const bare = seedInstance(db, { createdAt: T0 + 300_001, status: "new" });
    expect((await world.ops.call("POST", `/v1/ops/retry/${bare}`)).body.code).toBe("nothing_to_retry");

    const broken = seedInstance(db, { createdAt: T0 + 300_002, status: "failed" });
    const old = seedOperation(db, { instanceId: broken, createdAt: T0 + 300_002, status: "failed" });
    const newest = seedOperation(db, {
      instanceId: broken,
      seq: 2,
      createdAt: T0 + 300_003,
      status: "failed",
      errorStep: "create-server",
    });
    const replaced = await world.ops.call("POST", `/v1/ops/retry/${encodeURIComponent(old)}`);
    expect({ status: replaced.status, code: replaced.body.code }).toEqual({
      status: 409,
      code: "nothing_to_retry",
    });
    expect(String(replaced.body.message)).toContain(newest);

    const retried = await world.ops.call("POST", `/v1/ops/retry/${broken}`);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({
      instanceId: broken,
      jobId: newest,
      operation: "provision",
      previousStatus: "failed",
      resumesAt: "create-server",
    });
    expect(db.select().from(operations).where(eq(operations.id, newest)).get()).toMatchObject({
      status: "queued",
      run: 2,
    });
    // Still queued (no worker here): a second retry only makes sure its broker job exists.
    const again = await world.ops.call("POST", `/v1/ops/retry/${encodeURIComponent(newest)}`);
    expect(again.body).toMatchObject({ jobId: newest, previousStatus: "queued", resumesAt: null });
  });

  test("deprovision by instance: 202 with the job, joined when repeated; 404 unknown; 409 already deprovisioned", async () => {
    const { db } = world.runtime;
    const ready = seedInstance(db, { createdAt: T0 + 400_000 });
    const first = await world.ops.call("POST", `/v1/ops/instances/${ready}/deprovision`);
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ instanceId: ready, operationId: `deprovision:${ready}:1`, created: true });
    const second = await world.ops.call("POST", `/v1/ops/instances/${ready}/deprovision`);
    expect(second.body).toMatchObject({ operationId: `deprovision:${ready}:1`, created: false });

    const unknown = await world.ops.call("POST", "/v1/ops/instances/inope/deprovision");
    expect({ status: unknown.status, code: unknown.body.code }).toEqual({
      status: 404,
      code: "unknown_instance",
    });
    const gone = seedInstance(db, { createdAt: T0 + 400_001, status: "deprovisioned" });
    const again = await world.ops.call("POST", `/v1/ops/instances/${gone}/deprovision`);
    expect({ status: again.status, code: again.body.code }).toEqual({
      status: 409,
      code: "already_deprovisioned",
    });
  });
});

describe("upgrade", () => {
  const post = async (instanceId: string, body: unknown) => {
    const response = await fetch(`${world.ops.api.url}/v1/ops/instances/${instanceId}/upgrade`, {
      method: "POST",
      headers: { authorization: `Bearer ${OPS_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const codeOf = (answer: { status: number; body: Record<string, unknown> }) => ({
    status: answer.status,
    code: answer.body.code,
  });

  test("refusals: 404 unknown, 409 busy or not running, 422 no such bundle or a bad body", async () => {
    const { db } = world.runtime;
    expect(codeOf(await world.ops.call("POST", "/v1/ops/instances/inope/upgrade"))).toEqual({
      status: 404,
      code: "unknown_instance",
    });
    const busy = seedInstance(db, { createdAt: T0 + 600_000, status: "reconfiguring" });
    seedOperation(db, {
      instanceId: busy,
      operation: "reconfigure",
      createdAt: T0 + 600_000,
      status: "running",
    });
    const refused = await world.ops.call("POST", `/v1/ops/instances/${busy}/upgrade`);
    expect(codeOf(refused)).toEqual({ status: 409, code: "instance_busy" });
    expect(String(refused.body.message)).toContain("reconfigure");
    const failed = seedInstance(db, { createdAt: T0 + 600_001, status: "failed" });
    expect(codeOf(await world.ops.call("POST", `/v1/ops/instances/${failed}/upgrade`))).toEqual({
      status: 409,
      code: "not_running",
    });
    const ready = seedInstance(db, { createdAt: T0 + 600_002 });
    expect(codeOf(await post(ready, { bundle: "f".repeat(64) }))).toEqual({
      status: 422,
      code: "unknown_bundle",
    });
    const bad = await post(ready, { bundle: "v2", force: true });
    expect(codeOf(bad)).toEqual({ status: 422, code: "invalid_fields" });
    expect(String(bad.body.message)).toContain("bundle, force");
    expect(db.select().from(operations).where(eq(operations.instanceId, ready)).all()).toEqual([]);
  });

  test("202 with the job and the current bundle, joined when repeated; its grant is an upgrade's", async () => {
    const { db, config } = world.runtime;
    const current = await ensureStandInBundle(bundleStoreDir(config.dataDir), "x64");
    const ready = seedInstance(db, { createdAt: T0 + 700_000 });
    const first = await world.ops.call("POST", `/v1/ops/instances/${ready}/upgrade`);
    expect(first.status).toBe(202);
    const operationId = `upgrade:${ready}:1`;
    expect(first.body).toEqual({ instanceId: ready, operationId, bundleId: current.id, created: true });
    const again = await post(ready, { bundle: current.id });
    expect(again.body).toMatchObject({ operationId, created: false });
    const grant = db.select().from(bundleGrants).where(eq(bundleGrants.id, operationId)).get();
    expect(grant).toMatchObject({
      instanceId: ready,
      purpose: "upgrade",
      bundleId: current.id,
      endedAt: null,
    });
  }, 60_000);
});

test("a broker that does not take the job: retry and deprovision are 503, recorded, and asking again queues them", async () => {
  const { db, config } = world.runtime;
  const [closedPort] = await freePorts(1);
  const deadQueue = connectJobQueue({
    ...brokerConnection(config),
    port: closedPort ?? 9,
    db,
    commandTimeoutMs: 300,
  });
  const blind = startOpsApi({ config, db, queue: deadQueue });
  try {
    const failed = seedInstance(db, { createdAt: T0 + 500_000, status: "failed" });
    const job = seedOperation(db, {
      instanceId: failed,
      createdAt: T0 + 500_000,
      status: "failed",
      errorStep: "verify",
    });
    const retry = await blind.call("POST", `/v1/ops/retry/${failed}`);
    expect({ status: retry.status, code: retry.body.code }).toEqual({ status: 503, code: "unavailable" });
    expect(String(retry.body.message)).toContain("try again");
    expect(db.select().from(operations).where(eq(operations.id, job)).get()?.status).toBe("queued");
    const again = await world.ops.call("POST", `/v1/ops/retry/${failed}`);
    expect(again.body).toMatchObject({ jobId: job, previousStatus: "queued" });

    const ready = seedInstance(db, { createdAt: T0 + 500_001 });
    const deprovision = await blind.call("POST", `/v1/ops/instances/${ready}/deprovision`);
    expect({ status: deprovision.status, code: deprovision.body.code }).toEqual({
      status: 503,
      code: "unavailable",
    });
    const joined = await world.ops.call("POST", `/v1/ops/instances/${ready}/deprovision`);
    expect(joined.body).toMatchObject({ operationId: `deprovision:${ready}:1`, created: false });
  } finally {
    await blind.api.stop(100);
    await deadQueue.close();
  }
});
