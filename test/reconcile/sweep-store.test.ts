/** The sweep claim on a real SQLite file: one running sweep at a time, a dead worker's sweep superseded, repeats ignored. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import { latestSweep, readSweep } from "../../jobs/reconcile/sweep-record.ts";
import {
  claimSweep,
  finishSweep,
  recordSkippedSweep,
  type SweepRequest,
} from "../../jobs/reconcile/sweep-store.ts";

const STALE_AFTER_MS = 60_000;
const T0 = Date.UTC(2026, 10, 26, 6, 0, 0);

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rachel-sweeps-"));
  db = openDatabase(join(dir, "app.sqlite"));
  migrateDatabase(db);
});
afterEach(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

const request = (id: string, requestedAt = T0): SweepRequest => ({
  id,
  trigger: "schedule",
  dryRun: false,
  requestedAt,
});
const done = { status: "succeeded", serversSeen: 0, hetznerRequests: 1, decisions: [] } as const;

test("a second sweep is busy while the first runs, and claims once it has finished", () => {
  expect(claimSweep(db, request("a"), T0, STALE_AFTER_MS)).toEqual({ kind: "claimed" });
  expect(claimSweep(db, request("b"), T0 + 10, STALE_AFTER_MS)).toEqual({ kind: "busy", runningId: "a" });
  // A second delivery of the running sweep is busy too, never a second run of it.
  expect(claimSweep(db, request("a"), T0 + 10, STALE_AFTER_MS)).toEqual({ kind: "busy", runningId: "a" });
  finishSweep(db, "a", done, T0 + 20);
  expect(claimSweep(db, request("a"), T0 + 30, STALE_AFTER_MS)).toEqual({ kind: "finished" });
  expect(claimSweep(db, request("b"), T0 + 30, STALE_AFTER_MS)).toEqual({ kind: "claimed" });
});

test("a sweep still running past the stale bound is failed as abandoned and no longer blocks", () => {
  claimSweep(db, request("dead"), T0, STALE_AFTER_MS);
  expect(claimSweep(db, request("next"), T0 + STALE_AFTER_MS + 1, STALE_AFTER_MS)).toEqual({
    kind: "claimed",
  });
  expect(readSweep(db, "dead")).toMatchObject({ status: "failed", error: { code: "abandoned" } });
});

test("a skipped sweep succeeds with its reason; latestSweep is the newest requested", () => {
  claimSweep(db, request("running", T0), T0, STALE_AFTER_MS);
  recordSkippedSweep(db, request("late", T0 + 5), "running", T0 + 5);
  expect(readSweep(db, "late")).toMatchObject({
    status: "succeeded",
    skipped: "sweep running was running; this one did nothing",
    error: null,
    decisions: [],
    requestedAt: new Date(T0 + 5).toISOString(),
  });
  expect(latestSweep(db)?.id).toBe("late");
  expect(readSweep(db, "nothing")).toBeNull();
});
