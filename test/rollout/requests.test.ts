/**
 * Asking for a rollout, from the command line and over the ops API: every bad input is refused naming its
 * field, and start, pause, resume and status answer with the rollout as recorded (no runner here: the
 * job waits in a real broker).
 */
import { describe, expect, test } from "bun:test";
import { bundleStoreDir } from "../../bundle/store.ts";
import { parseOpsArgs, UsageError } from "../../cli/ops/args.ts";
import { ensureStandInBundle } from "../../sim/bundle/stand-in.ts";
import { OPS_TOKEN, opsApiForFile } from "../ops/ops-api.ts";
import { runOps } from "../ops/run-ops.ts";
import { seedInstance } from "../ops/seed.ts";

const SHA = "a".repeat(64);

describe("ops rollout on the command line", () => {
  const refusals: [string[], string][] = [
    [["rollout"], "rollout needs exactly one <bundle> or one of status|pause|resume, got 0"],
    [["rollout", "abc"], "rollout <bundle> must be a bundle id (sha256, 64 lowercase hex digits"],
    [["rollout", SHA.toUpperCase()], "rollout <bundle> must be a bundle id"],
    [["rollout", SHA, "extra"], "got 2"],
    [["rollout", SHA, "--canary", "0"], '--canary must be a whole number from 1 to 10000, got "0"'],
    [["rollout", SHA, "--canary", "two"], '--canary must be a whole number from 1 to 10000, got "two"'],
    [["rollout", SHA, "--batch", "1.5"], '--batch must be a whole number from 1 to 10000, got "1.5"'],
    [["rollout", SHA, "--batch=-3"], '--batch must be a whole number from 1 to 10000, got "-3"'],
    [["rollout", SHA, "--max-failures", "99999"], "--max-failures must be a whole number from 0 to 10000"],
    [
      ["rollout", "pause", "--canary", "2"],
      "--canary is an option of rollout <bundle>, not of rollout pause",
    ],
    [["status", "--batch", "2"], "--batch is not an option of status"],
  ];
  for (const [args, message] of refusals) {
    test(`ops ${args.join(" ")}`, () => {
      expect(() => parseOpsArgs(args)).toThrow(UsageError);
      expect(() => parseOpsArgs(args)).toThrow(message);
    });
  }

  test("reads the bundle, the sizes and the actions", () => {
    expect(
      parseOpsArgs(["rollout", SHA, "--canary", "3", "--batch", "10", "--max-failures", "0"]).command,
    ).toEqual({
      name: "rollout",
      action: "start",
      bundle: SHA,
      canary: 3,
      batch: 10,
      maxFailures: 0,
    });
    expect(parseOpsArgs(["rollout", SHA]).command).toMatchObject({ canary: undefined, batch: undefined });
    for (const action of ["status", "pause", "resume"] as const) {
      expect(parseOpsArgs(["rollout", action]).command).toEqual({ name: "rollout", action });
    }
  });
});

describe("the rollout over the ops API", () => {
  const world = opsApiForFile();
  const send = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${world.ops.api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${OPS_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  test("bad bodies are 422 naming each field; nothing is recorded", async () => {
    const cases: [unknown, string][] = [
      [{}, "invalid bundle"],
      [{ bundle: "nope" }, "invalid bundle"],
      [{ bundle: SHA, canary: 0 }, "invalid canary"],
      [{ bundle: SHA, batch: 2.5 }, "invalid batch"],
      [{ bundle: SHA, maxFailures: -1 }, "invalid maxFailures"],
      [{ bundle: SHA, canary: "2" }, "invalid canary"],
      [{ bundle: SHA, speed: 9 }, "invalid speed"],
      ["{not json", ""],
    ];
    for (const [body, named] of cases) {
      const answer = await send("POST", "/v1/ops/rollout", body);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(String(answer.body.message)).toContain(named);
    }
    expect((await send("GET", "/v1/ops/rollout")).body.code).toBe("no_rollout");
  });

  test("start, refuse a second, pause, resume and show it", async () => {
    const { db, config } = world.runtime;
    expect((await send("POST", "/v1/ops/rollout", { bundle: SHA })).body.code).toBe("unknown_bundle");
    expect((await send("POST", "/v1/ops/rollout/pause")).status).toBe(404);
    const manifest = await ensureStandInBundle(bundleStoreDir(config.dataDir), "x64");
    const nothing = await send("POST", "/v1/ops/rollout", { bundle: manifest.id });
    expect(nothing).toMatchObject({ status: 409, body: { code: "nothing_to_upgrade" } });

    const now = Date.now();
    const old = "b".repeat(64);
    const members = [1, 2, 3].map((n) =>
      seedInstance(db, { createdAt: now + n, bundleId: old, hetznerServerId: 100 + n }),
    );
    seedInstance(db, { createdAt: now, bundleId: manifest.id, hetznerServerId: 99 });
    seedInstance(db, { createdAt: now, status: "failed", bundleId: old, hetznerServerId: 98 });
    const started = await send("POST", "/v1/ops/rollout", { bundle: manifest.id, canary: 1, batch: 2 });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: "running", canary: 1, batchSize: 2, maxFailures: 0 });
    expect((started.body.memberList as { instanceId: string }[]).map((m) => m.instanceId)).toEqual(members);
    expect(started.body.wave).toEqual({ current: 0, total: 2 });

    const second = await send("POST", "/v1/ops/rollout", { bundle: manifest.id });
    expect(second).toMatchObject({ status: 409, body: { code: "rollout_in_progress" } });
    expect((await send("POST", "/v1/ops/rollout/resume")).body.status).toBe("running");
    expect((await send("POST", "/v1/ops/rollout/pause")).body.status).toBe("paused");
    expect((await send("POST", "/v1/ops/rollout/pause")).body.code).toBe("wrong_state");
    const status = await send("GET", "/v1/ops/status");
    expect(status.body.rollout).toMatchObject({ id: started.body.id, status: "paused" });
    expect((await send("POST", "/v1/ops/rollout/resume")).body.status).toBe("running");
    expect((await send("GET", "/v1/ops/rollout")).body).toMatchObject({
      id: started.body.id,
      status: "running",
    });
    const shown = await runOps(["rollout", "status"], { OPS_API_URL: world.ops.api.url, OPS_TOKEN });
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain(
      `${started.body.id} running at the canary: 0 upgraded, 0 upgrading, 3 pending`,
    );
    expect(shown.stdout).toContain("1 / 2, at most 0 failure(s)");
    const metrics = await world.ops.metrics.render();
    expect(metrics).toContain('rollout_members{outcome="pending"} 3');
    expect(metrics).toContain('rollout_status{status="running"} 1');
  });
});
