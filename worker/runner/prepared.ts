/**
 * The runner's hot statements as drizzle prepared queries: built once per database handle and reused, so an
 * attempt's writes skip building the SQL text and SQLite compiling it each time (about a tenth of the cost).
 */
import { type SQL, sql } from "drizzle-orm";
import type { DbSession } from "../../db/index.ts";

/**
 * Returns `build(db)` for the handle it is called with, building it on first use. Inside fence() the handle
 * is the connection's own database, in whose transaction the statements then run; any other handle (a
 * drizzle transaction in a test) gets statements of its own, equally correct.
 */
export function preparedPerHandle<Q>(build: (db: DbSession) => Q): (db: DbSession) => Q {
  const built = new WeakMap<DbSession, Q>();
  return (db) => {
    const existing = built.get(db);
    if (existing !== undefined) return existing;
    const query = build(db);
    built.set(db, query);
    return query;
  };
}

/** A named parameter where drizzle's `set()` wants a value (it takes SQL there, not a bare placeholder). */
export function param(name: string): SQL {
  return sql`${sql.placeholder(name)}`;
}
