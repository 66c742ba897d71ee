/** Durable signals: an external event (e.g. the cloud-init callback) recorded before any job is woken. */
import { and, asc, eq, gte, inArray, isNull } from "drizzle-orm";
import type { Db } from "../db/index.ts";
import { instances, operations, signals } from "../db/schema.ts";
import { UnknownInstanceError } from "./errors.ts";
import { activeOperationStatuses } from "./operations.ts";

export interface PendingSignal {
  id: number;
  data: Record<string, unknown>;
}

/**
 * Stores the signal and returns the ids of the active operations on the instance waiting for it (to be
 * promoted). Throws UnknownInstanceError for an unknown instance.
 */
export function recordSignal(
  db: Db,
  instanceId: string,
  name: string,
  data: Record<string, unknown>,
  now: number,
): string[] {
  return db.transaction(
    (tx) => {
      const instance = tx
        .select({ id: instances.id })
        .from(instances)
        .where(eq(instances.id, instanceId))
        .get();
      if (!instance) throw new UnknownInstanceError(instanceId);
      tx.insert(signals)
        .values({ instanceId, name, data: JSON.stringify(data), receivedAt: now })
        .run();
      return tx
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
    },
    { behavior: "immediate" },
  );
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
  return row ? { id: row.id, data: JSON.parse(row.data) as Record<string, unknown> } : undefined;
}

/** Marks every unconsumed signal of that name on the instance consumed (a wake-up spent without success). */
export function consumePendingSignals(db: Db, instanceId: string, name: string, now: number): void {
  db.update(signals)
    .set({ consumedAt: now })
    .where(and(eq(signals.instanceId, instanceId), eq(signals.name, name), isNull(signals.consumedAt)))
    .run();
}
