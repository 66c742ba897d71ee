import type { CrashHook } from "../../core/crash-point.ts";
import type { Logger } from "../../core/log.ts";
import type { Db } from "../../db/index.ts";

/** Outcome of one step attempt or compensation, as logged and counted. */
export type AttemptOutcome =
  | "succeeded"
  | "retrying"
  | "failed"
  | "waiting"
  | "interrupted"
  | "lease_lost"
  | "compensated"
  | "compensation_failed";

/** Outcome of one delivery of a job, as counted. */
export type JobOutcome =
  | "succeeded"
  | "failed"
  | "parked"
  | "lease_busy"
  | "lease_lost"
  | "interrupted"
  | "error";

/** What the runner reports; startWorker maps it onto the core metrics registry. */
export interface RunnerMetrics {
  jobFinished(operation: string, outcome: JobOutcome): void;
}

export interface RunnerDeps {
  db: Db;
  log: Logger;
  metrics: RunnerMetrics;
  /** Names this worker process in lease owners; unique per process. */
  workerId: string;
  /** Fencing lease time-to-live, in ms (renewed every heartbeatMs). */
  leaseTtlMs: number;
  /** Interval of lease and broker-lock renewal while a job runs, in ms. */
  heartbeatMs: number;
  /** Broker lock duration requested on each renewal, in ms. */
  jobLockMs: number;
  /** Longest a job waits (parked) before trying a busy instance lease again, in ms. */
  leaseBusyDelayMs: number;
  /** Aborts every running step when the worker shuts down. */
  shutdown: AbortSignal;
  /** Clock, epoch ms. */
  now(): number;
  /** Source of backoff jitter, uniform in [0, 1). */
  random(): number;
  /** Test fault hook at each step boundary (core/crash-point.ts); default none. */
  crash?: CrashHook;
}
