/**
 * Step outputs where they cross SQLite: what a step returns is parsed with its schema before it is stored,
 * and what is stored is parsed with the reader's schema before it is handed on. A changed shape thus fails
 * the attempt with the step and the field named, instead of as a wrong value deep inside a later step.
 */
import { StepOutputMismatchError, StepOutputMissingError } from "../../jobs/errors.ts";
import type { StepContext, StepRef } from "../../jobs/step.ts";

/** What `run` returned, as its schema reads it (unknown keys dropped); throws StepOutputMismatchError. */
export function checkReturnedOutput<O>(step: StepRef<O>, output: unknown): O {
  return parseOutput(step, output, "returned");
}

/** ctx.outputOf and ctx.optionalOutputOf over the outputs of the finished steps (as parsed from JSON). */
export function outputReader(
  finished: ReadonlyMap<string, unknown>,
  reader: string,
): Pick<StepContext, "outputOf" | "optionalOutputOf"> {
  return {
    outputOf<O>(step: StepRef<O>): O {
      if (!finished.has(step.name)) throw new StepOutputMissingError(step.name, reader);
      return parseOutput(step, finished.get(step.name), "stored");
    },
    optionalOutputOf<O>(step: StepRef<O>): O | undefined {
      return finished.has(step.name) ? parseOutput(step, finished.get(step.name), "stored") : undefined;
    },
  };
}

function parseOutput<O>(step: StepRef<O>, value: unknown, stage: "returned" | "stored"): O {
  const parsed = step.output.safeParse(value);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  const field = issue !== undefined && issue.path.length > 0 ? issue.path.join(".") : "(the whole output)";
  throw new StepOutputMismatchError(step.name, field, stage, issue?.message ?? "does not parse");
}
