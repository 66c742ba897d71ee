/** Typed errors of the job runtime; each has a stable `code` that lands in step_runs and logs. */

/** Base class: `code` is a stable snake_case identifier, `message` never carries secrets. */
export class JobError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Thrown (or wrapped) by a step to stop retrying at once, whatever its policy says. */
export class PermanentError extends JobError {
  constructor(message: string, options?: { code?: string; cause?: unknown }) {
    super(options?.code ?? "permanent", message, options);
  }
}

/**
 * A step's output does not fit its schema: the output `run` just `returned` (a defect; nothing is stored), or
 * one `stored` earlier that the current release reads differently (a deploy changed its shape under a
 * parked job). Names the step and the first field that does not fit.
 */
export class StepOutputMismatchError extends PermanentError {
  constructor(
    readonly step: string,
    readonly field: string,
    readonly stage: "returned" | "stored",
    problem: string,
  ) {
    super(
      stage === "stored"
        ? `the stored output of step ${step} no longer fits its schema at ${field}: ${problem}`
        : `step ${step} returned an output that does not fit its schema at ${field}: ${problem}`,
      { code: stage === "stored" ? "stored_output_mismatch" : "invalid_step_output" },
    );
  }
}

/** A step asked for the output of a step that has not finished in this job (a defect in the job's order). */
export class StepOutputMissingError extends PermanentError {
  constructor(
    readonly step: string,
    reader: string,
  ) {
    super(`step ${reader} needs the output of step ${step}, which has not finished in this job`, {
      code: "step_output_missing",
    });
  }
}

/** An attempt ran past its step's timeoutMs. Transient: the policy decides whether to try again. */
export class StepTimeoutError extends JobError {
  constructor(step: string, timeoutMs: number) {
    super("step_timeout", `step ${step} did not finish within ${timeoutMs} ms`);
  }
}

/** A durable wait reached its deadline without the signal. Permanent unless the step's policy retries it. */
export class WaitTimeoutError extends JobError {
  constructor(
    readonly signalName: string,
    readonly deadline: number,
  ) {
    super(
      "wait_timeout",
      `still waiting for signal "${signalName}" at its deadline ${new Date(deadline).toISOString()}`,
    );
  }
}

/** Another holder took the instance lease: this job's writes are rejected and it stops without side effects. */
export class LeaseLostError extends JobError {
  constructor(instanceId: string) {
    super("lease_lost", `lease on instance ${instanceId} is held by another job`);
  }
}

/** The attempt was abandoned because the worker is shutting down; it does not count against the policy. */
export class ShutdownError extends JobError {
  constructor() {
    super("shutdown", "worker is shutting down");
  }
}

/** A signal (or other request) named an instance the database does not know; the API answers 404. */
export class UnknownInstanceError extends JobError {
  constructor(instanceId: string) {
    super("unknown_instance", `unknown instance ${instanceId}`);
  }
}

/** A job payload or request that can never succeed, e.g. an unknown operation. */
export class InvalidJobError extends JobError {
  constructor(message: string) {
    super("invalid_job", message);
  }
}

/** The stable code of any error: a typed error's `code` (string), else its class name, else "unknown". */
export function errorCodeOf(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.length > 0) return code;
    if (err instanceof Error) return err.name;
  }
  return "unknown";
}

/** A one-line message for records and logs. */
export function errorMessageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
