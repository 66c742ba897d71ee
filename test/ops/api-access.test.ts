/**
 * The ops API against a real broker, a real SQLite file and a real server on loopback: access on every
 * route (401, 503 while unconfigured), the status answer, and no secret or token in any answer or log line.
 */
import { describe, expect, test } from "bun:test";
import { freePorts } from "../../harness/support/processes.ts";
import { OPS_TOKEN, opsApiForFile, startOpsApi } from "./ops-api.ts";
import { SECRET_MARKERS, seedInstance, seedOperation, seedSweep } from "./seed.ts";

const world = opsApiForFile();
const T0 = Date.UTC(2026, 10, 26, 5, 0, 0);

const OPS_ROUTES = [
  ["GET", "/v1/ops/status"],
  ["GET", "/v1/ops/instances"],
  ["GET", "/v1/ops/instances/iunknown"],
  ["GET", "/v1/ops/jobs"],
  ["POST", "/v1/ops/retry/iunknown"],
  ["POST", "/v1/ops/instances/iunknown/deprovision"],
  ["POST", "/v1/ops/instances/iunknown/upgrade"],
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
    // No off-box target and no snapshot yet: both are warned about; no restore hold.
    expect(body.backups).toEqual({
      newestLocalSnapshot: null,
      offBoxTarget: null,
      restoreHold: null,
      warnings: [
        "no off-box backup target: set BACKUP_S3_* (a lost disk takes the local snapshots with it)",
        "no snapshot in BACKUP_DIR ./backups yet (bun run backup)",
      ],
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
