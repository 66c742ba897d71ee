/**
 * What a job is made of, as the runner sees it.
 *
 * Glossary: an *instance* is one customer's VPS; an *operation* is one requested job on an instance
 * (e.g. "provision"); a *run* is one pass of the runner over an operation (re-running a failed operation
 * starts run + 1); a *step* is one idempotent unit of side effects; an *attempt* is one execution of a
 * step within a run; a *compensation* undoes a succeeded step after the operation finally failed.
 */
import type { z } from "zod";
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
  /**
   * The stored output of a finished earlier step of this job, parsed with that step's schema. Throws
   * StepOutputMissingError when the step has not finished, StepOutputMismatchError (naming the step and the
   * field) when what is stored no longer fits the schema, e.g. after a deploy changed it under a parked job.
   */
  outputOf<O>(step: StepRef<O>): O;
  /** The same, or undefined when that step has not finished in this job (or is not one of its steps). */
  optionalOutputOf<O>(step: StepRef<O>): O | undefined;
  /**
   * Test fault hook inside the step, between two of its side effects: CRASH_AT=<job>.<step>.<point> kills
   * the worker here (core/crash-point.ts). The step names its points in `crashPoints`.
   */
  crashPoint?(point: string): void;
}

/** What a later step needs to read a step's output: its name and the schema of what it stores. */
export interface StepRef<O> {
  /** Unique within its job; stored in step_runs, so renaming a step re-runs it for in-flight jobs. */
  readonly name: string;
  /**
   * The output, stored as JSON (non-secret ids only): the runner parses what `run` returns with it before
   * storing, and what is stored with it before handing it on. Evolve it additively (new fields optional):
   * outputs stored by the previous release must still parse for jobs parked across a deploy.
   */
  readonly output: z.ZodType<O>;
}

/** Names a step and its output schema once, for the step itself and for the steps that read its output. */
export function stepRef<O>(name: string, output: z.ZodType<O>): StepRef<O> {
  return { name, output };
}

export interface Step<O = unknown> extends StepRef<O> {
  retry: RetryPolicy;
  /** Bound of one attempt, in ms; on expiry ctx.signal aborts and the attempt fails with StepTimeoutError. */
  timeoutMs: number;
  /** Its output is checked against `output`, stored, and read by later steps through ctx.outputOf. */
  run(ctx: StepContext): Promise<O>;
  /** Undoes `run` after the operation finally failed; reads what `run` stored, if it needs to, by ctx.outputOf. */
  compensate?(ctx: StepContext): Promise<void>;
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
