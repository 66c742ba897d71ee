import type { Db } from "./index.ts";

/**
 * Queries prepared once per database connection. Building a drizzle query costs several times what SQLite
 * takes to run it, so the hot paths (webhook intake, requests, enqueueing) prepare theirs once. A prepared
 * statement runs on its connection, so it also runs inside a transaction open on that connection.
 */
export function preparedPerConnection<T>(prepare: (db: Db) => T): (db: Db) => T {
  const byDb = new WeakMap<Db, T>();
  return (db) => {
    let statements = byDb.get(db);
    if (statements === undefined) {
      statements = prepare(db);
      byDb.set(db, statements);
    }
    return statements;
  };
}
