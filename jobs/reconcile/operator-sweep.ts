/**
 * An operator's sweep (`POST /v1/ops/reconcile`, `bun run ops reconcile`): recorded queued, added to the
 * broker under the same id, then awaited in the database the worker writes. If another sweep is running it
 * waits its turn in the broker rather than being refused.
 */
import { sleep } from "../../core/abort.ts";
import type { Db } from "../../db/index.ts";
import type { SweepBroker } from "./broker.ts";
import { readSweep, type SweepRecord } from "./sweep-record.ts";
import { failQueuedSweep, queueSweep } from "./sweep-store.ts";

/** The broker did not take the sweep job; the sweep is recorded failed with code `broker_unavailable`. */
export class SweepNotQueuedError extends Error {
  override readonly name = "SweepNotQueuedError";
  constructor(
    readonly sweepId: string,
    cause: unknown,
  ) {
    super(`the broker did not take sweep ${sweepId}`, { cause });
  }
}

/**
 * Records and enqueues an operator's sweep; returns its id. `releaseHold` (`ops reconcile --apply`) releases a
 * restore's hold before it sweeps. Throws SweepNotQueuedError when the broker fails.
 */
export async function requestOperatorSweep(
  db: Db,
  broker: Pick<SweepBroker, "requestSweep">,
  dryRun: boolean,
  now: number,
  releaseHold = false,
): Promise<string> {
  const id = `operator-${crypto.randomUUID()}`;
  queueSweep(db, { id, trigger: "operator", dryRun, requestedAt: now });
  try {
    await broker.requestSweep(id, { trigger: "operator", dryRun, ...(releaseHold ? { releaseHold } : {}) });
  } catch (err) {
    failQueuedSweep(
      db,
      id,
      { code: "broker_unavailable", message: "the broker did not take the sweep job" },
      now,
    );
    throw new SweepNotQueuedError(id, err);
  }
  return id;
}

/** Pause between reads of the sweep's row while awaiting it, in ms. */
const POLL_INTERVAL_MS = 100;

/**
 * The sweep's record once it has finished, or as it stands after `waitMs`; rejects with the signal's reason
 * when the caller goes away.
 */
export async function awaitSweep(
  db: Db,
  id: string,
  waitMs: number,
  signal?: AbortSignal,
): Promise<SweepRecord> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const record = readSweep(db, id);
    if (record === null) throw new Error(`sweep ${id} is not recorded`);
    const finished = record.status === "succeeded" || record.status === "failed";
    if (finished || Date.now() >= deadline) return record;
    await sleep(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())), signal);
  }
}
