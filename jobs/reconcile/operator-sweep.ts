/**
 * An operator's sweep (`POST /v1/ops/reconcile`, `bun run ops reconcile`): recorded queued, added to the
 * broker under the same id, then awaited in the database the worker writes. If another sweep is running it
 * waits its turn in the broker rather than being refused.
 */
import { sleep } from "../../core/abort.ts";
import type { Db } from "../../db/index.ts";
import { connectSweepBroker, type SweepBroker, type SweepBrokerOptions } from "./broker.ts";
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

/** Broker commands of an operator's sweep fail after this long, in ms, so a broker outage is a prompt answer. */
const OPERATOR_BROKER_TIMEOUT_MS = 5000;

export interface OperatorSweepDeps {
  db: Db;
  /** Where the broker listens; each request connects anew, as operators ask rarely. */
  broker: Pick<SweepBrokerOptions, "host" | "port" | "token">;
  /** Clock, in epoch ms. */
  now: () => number;
}

export interface OperatorSweeps {
  /** Records and enqueues a sweep (see requestOperatorSweep); returns its id. Throws SweepNotQueuedError. */
  request(asked: { dryRun: boolean; apply: boolean }): Promise<string>;
  /** The sweep's record once finished, or as it stands after `waitMs` (see awaitSweep). */
  awaitRecord(id: string, waitMs: number, signal?: AbortSignal): Promise<SweepRecord>;
}

export function createOperatorSweeps(deps: OperatorSweepDeps): OperatorSweeps {
  return {
    async request({ dryRun, apply }) {
      const broker = connectSweepBroker({ ...deps.broker, commandTimeoutMs: OPERATOR_BROKER_TIMEOUT_MS });
      try {
        return await requestOperatorSweep(deps.db, broker, dryRun, deps.now(), apply);
      } finally {
        await broker.close();
      }
    },
    awaitRecord: (id, waitMs, signal) => awaitSweep(deps.db, id, waitMs, signal),
  };
}
