import { type SQL, sql } from "drizzle-orm";
import type { Db, DbSession } from "./index.ts";

/**
 * Queries prepared once per database handle. Building a drizzle query costs several times what SQLite
 * takes to run it, so the hot paths (webhook intake, requests, enqueueing, the runner's per-attempt writes)
 * prepare theirs once. A prepared statement runs on its connection, so it also runs inside a transaction
 * open on that connection; another handle (a drizzle transaction object) gets statements of its own.
 */
export function preparedPerConnection<T, Handle extends DbSession = Db>(
  prepare: (db: Handle) => T,
): (db: Handle) => T {
  const byHandle = new WeakMap<Handle, T>();
  return (db) => {
    let statements = byHandle.get(db);
    if (statements === undefined) {
      statements = prepare(db);
      byHandle.set(db, statements);
    }
    return statements;
  };
}

/** A named parameter where drizzle's `set()` wants a value (it takes SQL there, not a bare placeholder). */
export function param(name: string): SQL {
  return sql`${sql.placeholder(name)}`;
}
