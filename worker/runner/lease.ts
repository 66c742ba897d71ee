/**
 * The per-instance fencing lease. bunqueue delivers at least once and, after a broker restart, may hand a
 * job to a second worker while the first still runs; the lease makes sure only one holder writes results.
 * Every acquisition increments lease_token; every result write is conditional on it (see fence()).
 */
import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Db, DbSession } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import { LeaseLostError } from "../../jobs/errors.ts";

export interface Lease {
  instanceId: string;
  /** `<workerId>/<delivery token>`: unique per delivery, so a second delivery of the same job is fenced too. */
  owner: string;
  token: number;
}

export type LeaseAttempt = { lease: Lease } | { heldUntil: number };

/** Takes the lease if it is free, expired or already ours; otherwise says until when it is held. */
export function acquireLease(
  db: Db,
  instanceId: string,
  owner: string,
  ttlMs: number,
  now: number,
): LeaseAttempt {
  const row = db
    .update(instances)
    .set({ leaseOwner: owner, leaseExpiresAt: now + ttlMs, leaseToken: sql`${instances.leaseToken} + 1` })
    .where(
      and(
        eq(instances.id, instanceId),
        or(isNull(instances.leaseOwner), lt(instances.leaseExpiresAt, now), eq(instances.leaseOwner, owner)),
      ),
    )
    .returning({ token: instances.leaseToken })
    .get();
  if (row) return { lease: { instanceId, owner, token: row.token } };
  const holder = db
    .select({ expiresAt: instances.leaseExpiresAt })
    .from(instances)
    .where(eq(instances.id, instanceId))
    .get();
  return { heldUntil: holder?.expiresAt ?? now };
}

/** Extends our lease; throws LeaseLostError if another holder has taken it since. */
export function renewLease(db: Db, lease: Lease, ttlMs: number, now: number): void {
  const row = db
    .update(instances)
    .set({ leaseExpiresAt: now + ttlMs })
    .where(and(eq(instances.id, lease.instanceId), eq(instances.leaseToken, lease.token)))
    .returning({ id: instances.id })
    .get();
  if (!row) throw new LeaseLostError(lease.instanceId);
}

/** Gives the lease up (keeping the token, which only ever grows); a no-op if it was already taken over. */
export function releaseLease(db: Db, lease: Lease): void {
  db.update(instances)
    .set({ leaseOwner: null, leaseExpiresAt: null })
    .where(and(eq(instances.id, lease.instanceId), eq(instances.leaseToken, lease.token)))
    .run();
}

/**
 * Runs `write` in one IMMEDIATE transaction that first touches the instance row on the condition
 * `lease_token = ours`; if that matches nothing the lease was taken over, and nothing is written.
 */
export function fence<T>(db: Db, lease: Lease, now: number, write: (tx: DbSession) => T): T {
  return db.transaction(
    (tx) => {
      const held = tx
        .update(instances)
        .set({ updatedAt: now })
        .where(and(eq(instances.id, lease.instanceId), eq(instances.leaseToken, lease.token)))
        .returning({ id: instances.id })
        .get();
      if (!held) throw new LeaseLostError(lease.instanceId);
      return write(tx);
    },
    { behavior: "immediate" },
  );
}

/** Frees every lease a worker process still holds (its shutdown gave up on a step); returns how many. */
export function releaseLeasesOf(db: Db, workerId: string): number {
  return (
    db
      .update(instances)
      .set({ leaseOwner: null, leaseExpiresAt: null })
      // A prefix comparison, not LIKE: host names may contain LIKE's wildcard "_".
      .where(sql`substr(${instances.leaseOwner}, 1, ${workerId.length + 1}) = ${`${workerId}/`}`)
      .returning({ id: instances.id })
      .all().length
  );
}
