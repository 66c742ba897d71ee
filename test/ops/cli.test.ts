/**
 * `bun run ops` as a real process against a real API (real broker, real SQLite file): exit codes, --json,
 * tables, and a message naming every bad argument or variable.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleStoreDir } from "../../bundle/store.ts";
import { freePorts } from "../../harness/support/processes.ts";
import { ensureStandInBundle } from "../../sim/bundle/stand-in.ts";
import { OPS_TOKEN, opsApiForFile } from "./ops-api.ts";
import { runOps } from "./run-ops.ts";
import { seedInstance, seedOperation } from "./seed.ts";

const world = opsApiForFile();
const T0 = Date.UTC(2026, 10, 26, 4, 0, 0);
const asOperator = (...args: string[]) => runOps(args, { OPS_API_URL: world.ops.api.url, OPS_TOKEN });

describe("usage errors exit 2 naming the bad argument", () => {
  const cases: [string[], string][] = [
    [[], "missing <command>"],
    [["launch"], 'unknown command "launch"'],
    [["status", "--state", "ready"], "--state is not an option of status"],
    [["instance"], "instance needs exactly one <instanceId>, got 0"],
    [["retry", "a", "b"], "retry needs exactly one <instanceId|jobId>, got 2"],
    [["jobs"], "jobs needs --failed"],
    [["status", "extra"], 'status takes no argument, got "extra"'],
    [["status", "--verbose"], "--verbose"],
    [["reconcile", "--dry-run", "--apply"], "--dry-run and --apply exclude each other"],
    [["status", "--apply"], "--apply is not an option of status"],
    [["restore", "a", "b"], "restore takes at most one <snapshot>, got 2"],
    [["upgrade"], "upgrade needs exactly one <instanceId>, got 0"],
    [["deprovision", "i1", "--bundle", "x"], "--bundle is not an option of deprovision"],
  ];
  for (const [args, named] of cases) {
    test(`ops ${args.join(" ")}`, async () => {
      const run = await asOperator(...args);
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toContain(named);
      expect(run.stdout).toBe("");
    });
  }
});

test("--help prints every command and exits 0", async () => {
  const run = await asOperator("--help");
  expect(run.exitCode).toBe(0);
  for (const command of [
    "status",
    "instances",
    "instance <instanceId>",
    "jobs --failed",
    "retry",
    "deprovision",
    "upgrade <instanceId> [--bundle SHA]",
    "reconcile",
  ]) {
    expect(run.stdout).toContain(command);
  }
});

test("the environment: a missing or short token and a bad URL exit 2 naming the variable", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ops-cli-"));
  try {
    const missing = await runOps(["status"], { DATA_DIR: dir });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("OPS_TOKEN: required");
    const short = await runOps(["status"], { OPS_TOKEN: "short" });
    expect(short.stderr).toContain("OPS_TOKEN: must be at least 32 characters");
    const badUrl = await runOps(["status"], { OPS_TOKEN, OPS_API_URL: "ftp://x" });
    expect(badUrl.exitCode).toBe(2);
    expect(badUrl.stderr).toContain("OPS_API_URL: must be an http(s) URL");
    expect(badUrl.stderr).not.toContain(OPS_TOKEN);
    const unreadable = await runOps(["status"], { OPS_TOKEN_FILE: join(dir, "absent") });
    expect(unreadable.stderr).toContain("OPS_TOKEN_FILE: cannot read");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the token from OPS_TOKEN_FILE, or from DATA_DIR/dev.env as bun run dev writes it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ops-cli-"));
  try {
    writeFileSync(join(dir, "token"), `${OPS_TOKEN}\n`);
    const fromFile = await runOps(["status"], {
      OPS_API_URL: world.ops.api.url,
      OPS_TOKEN_FILE: join(dir, "token"),
    });
    expect(fromFile.exitCode).toBe(0);
    writeFileSync(join(dir, "dev.env"), `# generated\nOPS_TOKEN=${OPS_TOKEN}\n`);
    const fromDev = await runOps(["status"], { OPS_API_URL: world.ops.api.url, DATA_DIR: dir });
    expect(fromDev.exitCode).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the API's refusal exits 1 with its code, message and requestId", async () => {
  const wrong = await runOps(["status"], { OPS_API_URL: world.ops.api.url, OPS_TOKEN: "x".repeat(40) });
  expect(wrong.exitCode).toBe(1);
  expect(wrong.stderr).toMatch(
    /^ops: unauthorized \(HTTP 401\): missing or wrong bearer token \[requestId [0-9a-f-]{36}\]\n$/,
  );
  const unknown = await asOperator("instance", "inope");
  expect(unknown.exitCode).toBe(1);
  expect(unknown.stderr).toContain("unknown_instance (HTTP 404): no instance inope");
});

test("an API nobody answers at exits 3 with the URL it tried", async () => {
  const [port] = await freePorts(1);
  const run = await runOps(["status"], { OPS_API_URL: `http://127.0.0.1:${port}`, OPS_TOKEN });
  expect(run.exitCode).toBe(3);
  expect(run.stderr).toContain(`cannot reach the API at http://127.0.0.1:${port}`);
});

test("status, instances and jobs print aligned tables; --json prints the API's answer", async () => {
  const { db } = world.runtime;
  const failed = seedInstance(db, {
    createdAt: T0,
    status: "failed",
    customerId: "cust-cli",
    errorStep: "verify",
    errorCode: "unit_not_active",
  });
  const job = seedOperation(db, {
    instanceId: failed,
    createdAt: T0,
    status: "failed",
    errorStep: "verify",
    errorCode: "unit_not_active",
    errorMessage: "unit rachel8.service is failed, not active",
    finishedAt: T0 + 5000,
  });
  const status = await asOperator("status");
  expect(status.exitCode).toBe(0);
  expect(status.stdout).toMatch(/^instances\n {2}state +count\n/);
  expect(status.stdout).toMatch(/\n {2}failed +1\n/);
  expect(status.stdout).toMatch(/broker queue +waiting 0, active 0, delayed 0, failed 0/);
  expect(status.stdout).toMatch(/\n {2}default +0 +unknown +unbounded +not recorded\n/);
  expect(status.stdout).toContain("\nwaiting for capacity: 0\n");

  const table = await asOperator("instances", "--state", "failed");
  const [header, rule, row] = table.stdout.split("\n");
  expect(header).toMatch(/^ {2}instance +state +customer +server +ipv4 +location +created +error$/);
  expect(rule).toMatch(/^ {2}-+( {2}-+){7}$/);
  expect(row).toContain(failed);
  expect(row).toContain("unit_not_active at verify");
  // Columns line up: the state column starts at the same offset in the header and the row.
  expect(row?.indexOf("failed")).toBe(header?.indexOf("state"));

  const jobs = await asOperator("jobs", "--failed");
  expect(jobs.stdout).toContain(job);
  expect(jobs.stdout).toContain("unit rachel8.service is failed, not active");

  const json = await asOperator("instances", "--state", "failed", "--json");
  expect(json.exitCode).toBe(0);
  const parsed = JSON.parse(json.stdout) as { items: { id: string }[]; nextCursor: string | null };
  expect(parsed.items.map((item) => item.id)).toContain(failed);
  expect(parsed.nextCursor).toBeNull();

  const bad = await asOperator("instances", "--limit", "500");
  expect(bad.exitCode).toBe(1);
  expect(bad.stderr).toContain(
    "invalid_parameter (HTTP 400): invalid query: limit: must be an integer 1-200",
  );
});

test("upgrade prints the job it queued, --bundle names the bundle, and a refusal exits 1 with its code", async () => {
  const { db, config } = world.runtime;
  const current = await ensureStandInBundle(bundleStoreDir(config.dataDir), "x64");
  const ready = seedInstance(db, { createdAt: T0 + 900_000 });
  const run = await asOperator("upgrade", ready, "--bundle", current.id);
  expect(run.exitCode).toBe(0);
  expect(run.stdout).toContain(
    `upgrade of instance ${ready} to bundle ${current.id} requested: job upgrade:${ready}:1`,
  );
  const bad = await asOperator("upgrade", ready, "--bundle", "v2");
  expect(bad.exitCode).toBe(1);
  expect(bad.stderr).toContain("invalid_fields (HTTP 422): invalid bundle");
}, 60_000);
