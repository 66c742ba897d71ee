import { type SQL, sql } from "drizzle-orm";
import type { Db } from "./index.ts";

/**
 * Queries prepared once per database handle. Building a drizzle query costs several times what SQLite
 * takes to run it, so the hot paths (webhook intake, requests, enqueueing, the runner's per-attempt writes)
 * prepare theirs once. A prepared statement runs on its connection, so it also runs inside a transaction
 * open on that connection (the runner's fence and the IMMEDIATE transactions pass the handle itself).
 * The module keeps only the definition; what it prepares lives on the handle (Db.$prepared).
 */
export function preparedPerConnection<T>(prepare: (db: Db) => T): (db: Db) => T {
  const definition: PreparedDefinition<T> = { prepare };
  return (db) => db.$prepared.of(definition, db);
}

interface PreparedDefinition<T> {
  readonly prepare: (db: Db) => T;
}

/** The statements prepared on one database handle, by definition; openDatabase creates one per handle. */
export class PreparedStatements {
  readonly #byDefinition = new Map<PreparedDefinition<unknown>, unknown>();

  of<T>(definition: PreparedDefinition<T>, db: Db): T {
    if (this.#byDefinition.has(definition)) {
      // Each entry holds what its own definition's prepare returned.
      return this.#byDefinition.get(definition) as T;
    }
    const statements = definition.prepare(db);
    this.#byDefinition.set(definition, statements);
    return statements;
  }
}

/** A named parameter where drizzle's `set()` wants a value (it takes SQL there, not a bare placeholder). */
export function param(name: string): SQL {
  return sql`${sql.placeholder(name)}`;
}
