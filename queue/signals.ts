/** Durable signals: an external event (e.g. the cloud-init callback) recorded before any job is woken. */
import { and, asc, eq, gte, inArray, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Db, DbSession } from "../db/index.ts";
import { instances, operations, signals } from "../db/schema.ts";
import { activeOperationStatuses } from "../domain/operations.ts";
import { UnknownInstanceError } from "../jobs/errors.ts";

/** What a signal carries to the step waiting for it: a JSON object, written by signal(). */
const signalData = z.record(z.string(), z.unknown());

export interface PendingSignal {
  id: number;
  data: Record<string, unknown>;
}

/**
 * Stores the signal and returns the ids of the active operations on the instance waiting for it (to be
 * promoted). With `unlessRecordedSince` (a repeated report) it is stored only if no signal of that name was
 * stored since and an operation still waits for it: the repeat re-wakes without a second signal. Throws
 * UnknownInstanceError for an unknown instance.
 */
export function recordSignal(
  db: Db,
  instanceId: string,
  name: string,
  data: Record<string, unknown>,
  now: number,
  unlessRecordedSince?: number,
): string[] {
  return db.transaction(
    (tx) => {
      const instance = tx
        .select({ id: instances.id })
        .from(instances)
        .where(eq(instances.id, instanceId))
        .get();
      if (!instance) throw new UnknownInstanceError(instanceId);
      const waiting = tx
        .select({ id: operations.id })
        .from(operations)
        .where(
          and(
            eq(operations.instanceId, instanceId),
            eq(operations.waitSignal, name),
            inArray(operations.status, [...activeOperationStatuses]),
          ),
        )
        .all()
        .map((row) => row.id);
      const isRepeat = unlessRecordedSince !== undefined;
      // A repeat records only a lost signal, and only for a wait still open: a stray one could satisfy a later wait.
      if (!isRepeat || (waiting.length > 0 && !storedSince(tx, instanceId, name, unlessRecordedSince))) {
        tx.insert(signals)
          .values({ instanceId, name, data: JSON.stringify(data), receivedAt: now })
          .run();
      }
      return waiting;
    },
    { behavior: "immediate" },
  );
}

/** Marks the instance's unused signals of that name used: they came from something that is gone. */
export function discardPendingSignals(db: Db, instanceId: string, name: string, now: number): void {
  db.update(signals)
    .set({ consumedAt: now })
    .where(and(eq(signals.instanceId, instanceId), eq(signals.name, name), isNull(signals.consumedAt)))
    .run();
}

/** Whether a signal of that name (used or not) was stored for the instance at or after `since`. */
function storedSince(tx: DbSession, instanceId: string, name: string, since: number): boolean {
  const row = tx
    .select({ id: signals.id })
    .from(signals)
    .where(and(eq(signals.instanceId, instanceId), eq(signals.name, name), gte(signals.receivedAt, since)))
    .get();
  return row !== undefined;
}

/**
 * The oldest unconsumed signal of that name on the instance received at or after `since` (the operation's
 * creation, so a stale callback meant for an earlier operation never satisfies a new wait).
 */
export function findPendingSignal(
  db: Db,
  instanceId: string,
  name: string,
  since: number,
): PendingSignal | undefined {
  const row = db
    .select({ id: signals.id, data: signals.data })
    .from(signals)
    .where(
      and(
        eq(signals.instanceId, instanceId),
        eq(signals.name, name),
        isNull(signals.consumedAt),
        gte(signals.receivedAt, since),
      ),
    )
    .orderBy(asc(signals.id))
    .get();
  return row ? { id: row.id, data: signalData.parse(JSON.parse(row.data)) } : undefined;
}

/** Marks every unconsumed signal of that name on the instance consumed (a wake-up spent without success). */
export function consumePendingSignals(db: Db, instanceId: string, name: string, now: number): void {
  db.update(signals)
    .set({ consumedAt: now })
    .where(and(eq(signals.instanceId, instanceId), eq(signals.name, name), isNull(signals.consumedAt)))
    .run();
}
