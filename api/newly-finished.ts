/**
 * Catching up, at each scrape, on database rows that finished since the previous scrape, so a histogram
 * rebuilt from the database observes every finished row exactly once.
 */

/**
 * How far before the newest finish seen a finish may still appear: another process computes finishedAt before
 * its transaction commits, so a slightly older finish can become visible after a newer one. In ms.
 */
const LATE_COMMIT_SLACK_MS = 60_000;

/** A row that finished for good: its key and its finish time (epoch ms). */
export interface FinishedRow {
  id: string | number;
  finishedAt: number;
}

/**
 * Returns, on each call, the rows that finished since the last call (the first call catches up on all).
 * `read(since)` must return the rows finished at or after `since` (epoch ms); it is asked for the slack window
 * again each time, and rows already returned from it are dropped, so a late commit is returned once.
 */
export function newlyFinished<R extends FinishedRow>(read: (since: number) => R[]): () => R[] {
  let newestFinish = 0;
  /** Finish time by key of what was returned within the slack window: never returned twice. */
  const returned = new Map<R["id"], number>();
  return () => {
    const fresh = read(newestFinish - LATE_COMMIT_SLACK_MS).filter((row) => !returned.has(row.id));
    for (const row of fresh) {
      returned.set(row.id, row.finishedAt);
      newestFinish = Math.max(newestFinish, row.finishedAt);
    }
    for (const [id, finishedAt] of returned) {
      if (finishedAt < newestFinish - LATE_COMMIT_SLACK_MS) returned.delete(id);
    }
    return fresh;
  };
}
