/** A sweep as operators read it (`POST /v1/ops/reconcile`, `GET /v1/ops/sweeps/:id`, `ops status`): ISO times, parsed decisions. */
import { desc, eq, sql } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { type SweepStatus, sweeps } from "../../db/schema.ts";
import { type RecordedDecision, SKIPPED_CODE } from "./sweep-store.ts";

export interface SweepRecord {
  id: string;
  /** `schedule` or `operator`. */
  trigger: string;
  dryRun: boolean;
  status: SweepStatus;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Servers carrying our label listed at Hetzner; null until listed. */
  serversSeen: number | null;
  /** Hetzner requests the sweep made (listing plus actions); null until it finished. */
  hetznerRequests: number | null;
  decisions: RecordedDecision[];
  /** Why a succeeded sweep did nothing (another one was running); null otherwise. */
  skipped: string | null;
  /** Why the sweep failed as a whole; null unless its status is `failed`. */
  error: { code: string; message: string } | null;
}

type SweepRow = typeof sweeps.$inferSelect;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toRecord(row: SweepRow): SweepRecord {
  const skipped = row.errorCode === SKIPPED_CODE;
  const failure = row.errorCode !== null && !skipped;
  return {
    id: row.id,
    trigger: row.trigger,
    dryRun: row.dryRun,
    status: row.status,
    requestedAt: new Date(row.requestedAt).toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    serversSeen: row.serversSeen,
    hetznerRequests: row.hetznerRequests,
    decisions: row.decisions === null ? [] : (JSON.parse(row.decisions) as RecordedDecision[]),
    skipped: skipped ? row.errorMessage : null,
    error: failure ? { code: row.errorCode ?? "", message: row.errorMessage ?? "" } : null,
  };
}

/** The sweep with this id, or null when there is none. */
export function readSweep(db: Db, id: string): SweepRecord | null {
  const row = db.select().from(sweeps).where(eq(sweeps.id, id)).get();
  return row ? toRecord(row) : null;
}

/** The most recently requested sweep, or null before the first. */
export function latestSweep(db: Db): SweepRecord | null {
  const row = db.select().from(sweeps).orderBy(desc(sweeps.requestedAt), desc(sql`rowid`)).limit(1).get();
  return row ? toRecord(row) : null;
}
