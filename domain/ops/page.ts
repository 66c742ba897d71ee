/**
 * Keyset pagination for the operator's lists: newest first, and an opaque cursor that names the last row
 * shown, so a page stays stable while new rows arrive.
 */
import { and, eq, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

/** One page of a list; `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Where the next page starts: the sort time (epoch ms) and id of the last row shown. */
export interface PageKey {
  at: number;
  id: string;
}

export interface PageRequest {
  /** Rows per page, 1-200. */
  limit: number;
  /** Key of the last row of the previous page; undefined for the first page. */
  after: PageKey | undefined;
}

export function encodeCursor(key: PageKey): string {
  return Buffer.from(JSON.stringify([key.at, key.id])).toString("base64url");
}

/** The key a cursor names, or undefined when the text is not a cursor this service issued. */
export function decodeCursor(cursor: string): PageKey | undefined {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) return undefined;
  const [at, id] = decoded;
  return Number.isSafeInteger(at) && typeof id === "string" ? { at, id } : undefined;
}

/** Cuts one extra fetched row off: its presence means there is a next page, starting after the last shown. */
export function pageOf<R, T>(
  rows: R[],
  limit: number,
  keyOf: (row: R) => PageKey,
  view: (row: R) => T,
): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return {
    items: shown.map(view),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}

/** Rows strictly after `key` in newest-first order of (time, id); no condition for the first page. */
export function afterKey(time: SQLiteColumn, id: SQLiteColumn, key: PageKey | undefined): SQL | undefined {
  if (key === undefined) return undefined;
  return or(lt(time, key.at), and(eq(time, key.at), lt(id, key.id)));
}

/** Epoch ms as ISO 8601, keeping null. */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
