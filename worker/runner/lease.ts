/**
 * The per-instance fencing lease. bunqueue delivers at least once and, after a broker restart, may hand a
 * job to a second worker while the first still runs; the lease makes sure only one holder writes results.
 * Every acquisition increments lease_token; every result write is conditional on it (see fence()).
 */
import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { param, preparedPerConnection } from "../../db/prepared.ts";
import { instances } from "../../db/schema.ts";
import { LeaseLostError } from "../../jobs/errors.ts";

export interface Lease {
  instanceId: string;
  /** `<workerId>/<delivery token>`: unique per delivery, so a second delivery of the same job is fenced too. */
  owner: string;
  token: number;
}

export type LeaseAttempt = { lease: Lease } | { heldUntil: number };

const takeIfFree = preparedPerConnection((db: Db) =>
  db
    .update(instances)
    .set({
      leaseOwner: param("owner"),
      leaseExpiresAt: param("expiresAt"),
      leaseToken: sql`${instances.leaseToken} + 1`,
    })
    .where(
      and(
        eq(instances.id, sql.placeholder("instanceId")),
        or(
          isNull(instances.leaseOwner),
          lt(instances.leaseExpiresAt, sql.placeholder("now")),
          eq(instances.leaseOwner, sql.placeholder("owner")),
        ),
      ),
    )
    .returning({ token: instances.leaseToken })
    .prepare(),
);

/** Takes the lease if it is free, expired or already ours; otherwise says until when it is held. */
export function acquireLease(
  db: Db,
  instanceId: string,
  owner: string,
  ttlMs: number,
  now: number,
): LeaseAttempt {
  const row = takeIfFree(db).get({ instanceId, owner, expiresAt: now + ttlMs, now });
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

const letGo = preparedPerConnection((db: Db) =>
  db
    .update(instances)
    .set({ leaseOwner: null, leaseExpiresAt: null })
    .where(
      and(
        eq(instances.id, sql.placeholder("instanceId")),
        eq(instances.leaseToken, sql.placeholder("token")),
      ),
    )
    .prepare(),
);

/** Gives the lease up (keeping the token, which only ever grows); a no-op if it was already taken over. */
export function releaseLease(db: Db, lease: Lease): void {
  letGo(db).run({ instanceId: lease.instanceId, token: lease.token });
}

/** Touches the instance row if the lease token is still ours; returns nothing when it was taken over. */
const touchIfHeld = preparedPerConnection((db: Db) =>
  db
    .update(instances)
    .set({ updatedAt: param("now") })
    .where(
      and(
        eq(instances.id, sql.placeholder("instanceId")),
        eq(instances.leaseToken, sql.placeholder("token")),
      ),
    )
    .returning({ id: instances.id })
    .prepare(),
);

/**
 * Runs `write` in one IMMEDIATE transaction that first touches the instance row on the condition
 * `lease_token = ours`; if that matches nothing the lease was taken over, and nothing is written.
 * The transaction is the connection's, and `write` gets the database itself: everything it runs on that
 * connection belongs to the transaction, and the runner's prepared statements are reused across calls.
 */
export function fence<T>(db: Db, lease: Lease, now: number, write: (tx: Db) => T): T {
  return db.$client
    .transaction(() => {
      const held = touchIfHeld(db).get({ now, instanceId: lease.instanceId, token: lease.token });
      if (!held) throw new LeaseLostError(lease.instanceId);
      return write(db);
    })
    .immediate();
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
