/** The sweep claim on a real SQLite file: one running sweep at a time, a dead worker's sweep taken over or superseded, repeats ignored. */
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
  renewSweepLease,
  type SweepRequest,
} from "../../jobs/reconcile/sweep-store.ts";

const TTL_MS = 30_000;
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
/** A lease for `owner` taken at `now`. */
const by = (owner: string, now: number) => ({ owner, now, ttlMs: TTL_MS });

test("a second sweep is busy while the first runs, and claims once it has finished", () => {
  expect(claimSweep(db, request("a"), by("w1", T0))).toEqual({ kind: "claimed" });
  expect(claimSweep(db, request("b"), by("w2", T0 + 10))).toEqual({ kind: "busy", runningId: "a" });
  // A second delivery of the running sweep is busy too, never a second run of it.
  expect(claimSweep(db, request("a"), by("w2", T0 + 10))).toEqual({ kind: "busy", runningId: "a" });
  finishSweep(db, "a", "w1", done, T0 + 20);
  expect(claimSweep(db, request("a"), by("w2", T0 + 30))).toEqual({ kind: "finished" });
  expect(claimSweep(db, request("b"), by("w2", T0 + 30))).toEqual({ kind: "claimed" });
});

test("a renewed lease keeps a long sweep running; a lapsed one is failed as abandoned by the next sweep", () => {
  claimSweep(db, request("long"), by("w1", T0));
  expect(renewSweepLease(db, "long", by("w1", T0 + TTL_MS - 1))).toBe(true);
  expect(claimSweep(db, request("next"), by("w2", T0 + TTL_MS + 1))).toEqual({
    kind: "busy",
    runningId: "long",
  });
  expect(claimSweep(db, request("next"), by("w2", T0 + 2 * TTL_MS))).toEqual({ kind: "claimed" });
  expect(readSweep(db, "long")).toMatchObject({ status: "failed", error: { code: "abandoned" } });
  // The dead owner's late writes change nothing.
  expect(renewSweepLease(db, "long", by("w1", T0 + 2 * TTL_MS))).toBe(false);
  finishSweep(db, "long", "w1", done, T0 + 2 * TTL_MS);
  expect(readSweep(db, "long")?.status).toBe("failed");
});

test("the redelivery of a sweep whose lease lapsed takes it over and finishes it", () => {
  claimSweep(db, request("crashed"), by("w1", T0));
  expect(claimSweep(db, request("crashed"), by("w2", T0 + TTL_MS - 1))).toEqual({
    kind: "busy",
    runningId: "crashed",
  });
  expect(claimSweep(db, request("crashed"), by("w2", T0 + TTL_MS + 1))).toEqual({ kind: "claimed" });
  expect(renewSweepLease(db, "crashed", by("w1", T0 + TTL_MS + 2))).toBe(false);
  finishSweep(db, "crashed", "w2", done, T0 + TTL_MS + 3);
  expect(readSweep(db, "crashed")).toMatchObject({ status: "succeeded", error: null });
});

test("a skipped sweep succeeds with its reason; latestSweep is the newest requested", () => {
  claimSweep(db, request("running", T0), by("w1", T0));
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
