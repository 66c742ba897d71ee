/**
 * The ops API against a real broker, a real SQLite file and a real server on loopback: access, every
 * endpoint's shape and pages, every bad parameter named, and no secret in any answer.
 */
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { operations } from "../../db/schema.ts";
import { brokerConnection, connectJobQueue } from "../../jobs/queue.ts";
import { freePorts } from "../support/processes.ts";
import { OPS_TOKEN, opsApiForFile, startOpsApi } from "./ops-api.ts";
import { SECRET_MARKERS, seedInstance, seedOperation, seedStepRun, seedSweep } from "./seed.ts";

const world = opsApiForFile();
const T0 = Date.UTC(2026, 10, 26, 5, 0, 0);

const OPS_ROUTES = [
  ["GET", "/v1/ops/status"],
  ["GET", "/v1/ops/instances"],
  ["GET", "/v1/ops/instances/iunknown"],
  ["GET", "/v1/ops/jobs"],
  ["POST", "/v1/ops/retry/iunknown"],
  ["POST", "/v1/ops/instances/iunknown/deprovision"],
] as const;

describe("access", () => {
  test("no token and a wrong token are 401 with the Bearer challenge, on every route", async () => {
    for (const [method, path] of OPS_ROUTES) {
      for (const token of [null, "wrong-token-wrong-token-wrong-token-1234"]) {
        const answer = await world.ops.call(method, path, token);
        expect({ path, status: answer.status, code: answer.body.code }).toEqual({
          path,
          status: 401,
          code: "unauthorized",
        });
        expect(typeof answer.body.requestId).toBe("string");
      }
    }
  });

  test("OPS_TOKEN unset: every route answers 503 not_configured", async () => {
    const closed = startOpsApi(world.runtime, { opsToken: undefined });
    try {
      for (const [method, path] of OPS_ROUTES) {
        const answer = await closed.call(method, path);
        expect({ path, status: answer.status, code: answer.body.code }).toEqual({
          path,
          status: 503,
          code: "not_configured",
        });
      }
    } finally {
      await closed.api.stop(100);
    }
  });
});

describe("status", () => {
  test("instances by state, jobs by status, failed jobs, the broker's queue depths and the last sweep", async () => {
    const { db } = world.runtime;
    const failed = seedInstance(db, { createdAt: T0, status: "failed" });
    seedOperation(db, { instanceId: failed, createdAt: T0, status: "failed", errorStep: "create-server" });
    seedSweep(db, { id: "sweep-1", requestedAt: T0, serversSeen: 3, hetznerRequests: 1, decisions: "[{}]" });
    const { status, body } = await world.ops.call("GET", "/v1/ops/status");
    expect(status).toBe(200);
    const byState = body.instancesByState as Record<string, number>;
    expect(Object.keys(byState)).toEqual(
      expect.arrayContaining([
        "new",
        "provisioning",
        "ready",
        "failed",
        "lost",
        "deprovisioning",
        "deprovisioned",
      ]),
    );
    expect(byState.failed).toBeGreaterThanOrEqual(1);
    expect(
      (body.jobsByStatus as Record<string, Record<string, number>>).provision?.failed,
    ).toBeGreaterThanOrEqual(1);
    expect(body.failedJobs).toBeGreaterThanOrEqual(1);
    expect(body.queue).toEqual({ waiting: 0, prioritized: 0, active: 0, delayed: 0, failed: 0, paused: 0 });
    expect(body.queueError).toBeNull();
    expect(body.lastSweep).toMatchObject({
      id: "sweep-1",
      serversSeen: 3,
      hetznerRequests: 1,
      decisions: [{}],
    });
  });

  test("a broker that does not answer leaves the queue null with the reason; the rest is still shown", async () => {
    const [closedPort] = await freePorts(1);
    const withToken = startOpsApi(world.runtime, { brokerPort: closedPort ?? 9 });
    try {
      const { status, body } = await withToken.call("GET", "/v1/ops/status");
      expect(status).toBe(200);
      expect(body.queue).toBeNull();
      expect(body.queueError).toContain("did not report queue depths");
      expect(body.instancesByState).toBeDefined();
    } finally {
      await withToken.api.stop(100);
    }
  });
});

describe("instances", () => {
  test("pages newest first with an opaque cursor, and filter by state", async () => {
    const { db } = world.runtime;
    const ids = [1, 2, 3, 4, 5].map((n) =>
      seedInstance(db, { createdAt: T0 + 60_000 + n, status: n % 2 === 0 ? "lost" : "deprovisioning" }),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "" : `&cursor=${cursor}`;
      const { status, body } = await world.ops.call("GET", `/v1/ops/instances?limit=2${query}`);
      expect(status).toBe(200);
      const items = body.items as { id: string }[];
      expect(items.length).toBeLessThanOrEqual(2);
      seen.push(...items.map((item) => item.id));
      cursor = body.nextCursor as string | null;
    } while (cursor !== null);
    expect(seen.slice(0, 5)).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);

    const lost = await world.ops.call("GET", "/v1/ops/instances?state=lost");
    expect((lost.body.items as { id: string; state: string }[]).map((i) => i.id)).toEqual(
      ids.filter((_, i) => i % 2 === 1).reverse(),
    );
    expect(lost.body.nextCursor).toBeNull();
  });

  test("an instance shows its customer, Hetzner ids, addresses, operations with steps, attempts and a timeline", async () => {
    const { db } = world.runtime;
    const id = seedInstance(db, {
      createdAt: T0 + 120_000,
      status: "failed",
      customerId: "cust-detail",
      hetznerServerId: 42,
      sshKeyId: 7,
      firewallId: 9,
      ipv4: "127.1.0.9",
      location: "nbg1",
      errorStep: "create-server",
      errorCode: "no_capacity",
      errorMessage: "no capacity for cx23 in any of nbg1, fsn1, hel1",
    });
    const at = T0 + 120_000;
    const op = seedOperation(db, {
      instanceId: id,
      createdAt: at,
      status: "failed",
      errorStep: "create-server",
      errorCode: "no_capacity",
      errorMessage: "no capacity for cx23 in any of nbg1, fsn1, hel1",
      finishedAt: at + 900,
    });
    seedStepRun(db, {
      instanceId: id,
      operationId: op,
      step: "ssh-key",
      startedAt: at + 10,
      finishedAt: at + 20,
      durationMs: 10,
    });
    for (const attempt of [1, 2]) {
      seedStepRun(db, {
        instanceId: id,
        operationId: op,
        step: "create-server",
        attempt,
        status: "failed",
        startedAt: at + 100 * attempt,
        finishedAt: at + 100 * attempt + 50,
        durationMs: 50,
        errorCode: "no_capacity",
        errorMessage: "no capacity for cx23 in any of nbg1, fsn1, hel1",
      });
    }
    seedStepRun(db, {
      instanceId: id,
      operationId: op,
      step: "ssh-key",
      kind: "compensate",
      startedAt: at + 400,
      finishedAt: at + 410,
      durationMs: 10,
    });

    const { status, body, text } = await world.ops.call("GET", `/v1/ops/instances/${id}`);
    expect(status).toBe(200);
    expect(body.instance).toMatchObject({
      id,
      customerId: "cust-detail",
      state: "failed",
      hetznerServerId: 42,
      sshKeyId: 7,
      firewallId: 9,
      ipv4: "127.1.0.9",
      errorCode: "no_capacity",
    });
    const [operation] = body.operations as Record<string, unknown>[];
    expect(operation).toMatchObject({
      id: op,
      operation: "provision",
      status: "failed",
      run: 1,
      durationMs: 900,
    });
    expect(operation?.steps).toEqual([
      {
        step: "ssh-key",
        status: "succeeded",
        attempts: 1,
        durationMs: 10,
        errorCode: null,
        errorMessage: null,
      },
      {
        step: "create-server",
        status: "failed",
        attempts: 2,
        durationMs: 150,
        errorCode: "no_capacity",
        errorMessage: "no capacity for cx23 in any of nbg1, fsn1, hel1",
      },
    ]);
    expect(operation?.attempts).toHaveLength(4);
    const timeline = body.timeline as { at: string; event: string }[];
    expect(timeline.map((e) => e.at)).toEqual([...timeline.map((e) => e.at)].sort());
    expect(timeline.map((e) => e.event)).toContain(
      "create-server attempt 2 failed after 50 ms: no_capacity no capacity for cx23 in any of nbg1, fsn1, hel1",
    );
    expect(timeline.at(-1)?.event).toBe("provision failed at create-server: no_capacity");
    for (const marker of SECRET_MARKERS) expect(text).not.toContain(marker);
  });

  test("an unknown instance is 404 unknown_instance", async () => {
    const { status, body } = await world.ops.call("GET", "/v1/ops/instances/inope");
    expect({ status, code: body.code }).toEqual({ status: 404, code: "unknown_instance" });
  });
});

describe("jobs", () => {
  test("failed by default, newest change first, with instance, step, error and when; paged", async () => {
    const { db } = world.runtime;
    for (const n of [1, 2, 3]) {
      const id = seedInstance(db, {
        createdAt: T0 + 200_000 + n,
        status: "failed",
        customerId: `cust-job-${n}`,
      });
      seedOperation(db, {
        instanceId: id,
        createdAt: T0 + 200_000 + n,
        updatedAt: T0 + 10_000_000 + n,
        finishedAt: T0 + 10_000_000 + n,
        status: "failed",
        errorStep: "verify",
        errorCode: "unit_not_active",
        errorMessage: "unit rachel8.service is failed, not active",
      });
    }
    const first = await world.ops.call("GET", "/v1/ops/jobs?limit=2");
    expect(first.status).toBe(200);
    const items = first.body.items as Record<string, unknown>[];
    expect(items.map((item) => item.customerId)).toEqual(["cust-job-3", "cust-job-2"]);
    expect(items[0]).toMatchObject({
      operation: "provision",
      status: "failed",
      errorStep: "verify",
      errorCode: "unit_not_active",
      instanceState: "failed",
      finishedAt: new Date(T0 + 10_000_003).toISOString(),
    });
    expect(String(items[0]?.jobId)).toStartWith("provision:");
    const second = await world.ops.call("GET", `/v1/ops/jobs?limit=2&cursor=${first.body.nextCursor}`);
    expect((second.body.items as Record<string, unknown>[])[0]?.customerId).toBe("cust-job-1");
    const succeeded = await world.ops.call("GET", "/v1/ops/jobs?status=succeeded");
    expect((succeeded.body.items as { status: string }[]).every((item) => item.status === "succeeded")).toBe(
      true,
    );
  });
});

describe("bad parameters are 400 invalid_parameter naming each one", () => {
  const cases: [string, string][] = [
    ["/v1/ops/instances?limit=0", "limit: must be an integer 1-200"],
    ["/v1/ops/instances?limit=201", "limit: must be an integer 1-200"],
    ["/v1/ops/instances?limit=ten", "limit: must be an integer 1-200"],
    ["/v1/ops/instances?state=sleeping", "state: must be one of new, provisioning, ready"],
    ["/v1/ops/instances?cursor=not-a-cursor", "cursor: not a cursor this API issued"],
    ["/v1/ops/instances?stat=ready", "stat: unknown parameter"],
    ["/v1/ops/instances?limit=1&limit=2", "limit: given more than once"],
    ["/v1/ops/jobs?status=broken", "status: must be one of queued, running, parked, succeeded, failed"],
    ["/v1/ops/status?verbose=1", "verbose: unknown parameter"],
    ["/v1/ops/instances/iabc?x=1", "x: unknown parameter"],
  ];
  for (const [path, named] of cases) {
    test(path, async () => {
      const { status, body } = await world.ops.call("GET", path);
      expect({ status, code: body.code }).toEqual({ status: 400, code: "invalid_parameter" });
      expect(String(body.message)).toContain(named);
    });
  }
});

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

test("no answer and no log line of the ops API carries a sealed secret or the ops token", async () => {
  const answers = await Promise.all([
    world.ops.call("GET", "/v1/ops/instances?limit=200"),
    world.ops.call("GET", "/v1/ops/jobs?limit=200"),
    world.ops.call("GET", "/v1/ops/status"),
  ]);
  const everything = [...answers.map((a) => a.text), ...world.ops.logText].join("\n");
  for (const secret of [...SECRET_MARKERS, OPS_TOKEN]) {
    expect(everything).not.toContain(secret);
  }
});
