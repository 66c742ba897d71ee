/**
 * What a job is made of, as the runner sees it.
 *
 * Glossary: an *instance* is one customer's VPS; an *operation* is one requested job on an instance
 * (e.g. "provision"); a *run* is one pass of the runner over an operation (re-running a failed operation
 * starts run + 1); a *step* is one idempotent unit of side effects; an *attempt* is one execution of a
 * step within a run; a *compensation* undoes a succeeded step after the operation finally failed.
 */
import type { Logger } from "../core/log.ts";

export interface RetryPolicy {
  /** Attempts per run of the operation, including the first; >= 1. */
  attempts: number;
  /** Upper bound of the first backoff, in ms (full jitter: the real delay is uniform in [0, bound]). */
  initialDelayMs: number;
  /** Cap of any backoff bound, in ms. */
  maxDelayMs: number;
  /** true = stop at once (e.g. invalid_input). Errors marked with PermanentError are always permanent. */
  isPermanent?(err: unknown): boolean;
}

export interface StepContext {
  instanceId: string;
  jobId: string;
  /** 1-based attempt of this step within the current run. */
  attempt: number;
  /** Aborts on the step's timeout, on worker shutdown and when the instance lease is lost. */
  signal: AbortSignal;
  log: Logger;
  /**
   * Durable wait: parks the job (no worker slot held) until `signal(instanceId, name)` arrives or the
   * deadline passes (then throws WaitTimeoutError naming what was pending). Returns the signal's data.
   * The deadline is fixed by the first call in this attempt and survives the park; an attempt cut short by
   * shutdown or a crash starts its wait afresh. The signal is consumed when the step succeeds.
   */
  waitFor(name: string, opts: { timeoutMs: number }): Promise<Record<string, unknown>>;
  /** Outputs of the finished earlier steps of this job, by step name. */
  outputs: Readonly<Record<string, unknown>>;
  /**
   * Test fault hook inside the step, between two of its side effects: CRASH_AT=<job>.<step>.<point> kills
   * the worker here (core/crash-point.ts). The step names its points in `crashPoints`.
   */
  crashPoint?(point: string): void;
}

export interface Step<O = unknown> {
  /** Unique within its job; stored in step_runs, so renaming a step re-runs it for in-flight jobs. */
  name: string;
  retry: RetryPolicy;
  /** Bound of one attempt, in ms; on expiry ctx.signal aborts and the attempt fails with StepTimeoutError. */
  timeoutMs: number;
  /** Its output is stored as JSON (non-secret ids only) and handed to later steps via ctx.outputs. */
  run(ctx: StepContext): Promise<O>;
  /** Undoes `run` after the operation finally failed; called with the stored output (if any). */
  compensate?(ctx: StepContext, output: O | undefined): Promise<void>;
  /** The points `run` passes to ctx.crashPoint, so the crash-point suite can list them. */
  crashPoints?: readonly string[];
}

export interface JobDefinition {
  /** The operation, e.g. "provision"; also the broker job name. */
  name: string;
  steps: readonly Step[];
  /**
   * Instance status while the operation runs, after it succeeds and after a final failure (default
   * "running" / "ready" / "failed"; reaching "ready" also stamps ready_at).
   */
  instanceStatus?: {
    running: string;
    succeeded: string;
    /** A status, or one chosen by where and why it failed (an upgrade rolled back leaves a ready server). */
    failed?: string | ((error: { step: string; code: string }) => string);
  };
}
