/**
 * Test-only jobs run by a real worker process (harness/support/test-worker.ts). Steps record what they do
 * in DATA_DIR/test-events.jsonl, so a test in another process can see double execution, attempt numbers
 * and compensation order; a gated step blocks until the test creates its gate file.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { PermanentError } from "../../jobs/errors.ts";
import {
  type JobDefinition,
  type RetryPolicy,
  type Step,
  type StepContext,
  stepRef,
} from "../../jobs/step.ts";

export type TestEventKind = "start" | "end" | "abort" | "undo";

/** One line of DATA_DIR/test-events.jsonl. */
export interface TestEvent {
  instanceId: string;
  step: string;
  kind: TestEventKind;
  attempt: number;
  /** The worker process that wrote it. */
  pid: number;
}

const noRetry: RetryPolicy = { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 };
const quickRetry = (attempts: number): RetryPolicy => ({ attempts, initialDelayMs: 50, maxDelayMs: 100 });
/** How often a gated step looks for its gate file (ms). */
const GATE_POLL_MS = 20;

/** Every test operation; the names say what their steps do. */
export const TEST_OPERATIONS = {
  gated: "test-gated",
  flaky: "test-flaky",
  permanent: "test-permanent",
  fixable: "test-fixable",
  wait: "test-wait",
  waitDeadline: "test-wait-deadline",
} as const;

const eventsPath = (dataDir: string) => join(dataDir, "test-events.jsonl");
const gatePath = (dataDir: string, instanceId: string, gate: string) =>
  join(dataDir, "gates", `${instanceId}.${gate}`);

/** Events written so far, optionally of one instance, in the order they happened. */
export function readTestEvents(dataDir: string, instanceId?: string): TestEvent[] {
  if (!existsSync(eventsPath(dataDir))) return [];
  return readFileSync(eventsPath(dataDir), "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as TestEvent)
    .filter((event) => instanceId === undefined || event.instanceId === instanceId);
}

/** Lets a gated step of `instanceId` through (`gate` "release" for test-gated, "fix" for test-fixable). */
export function openGate(dataDir: string, instanceId: string, gate: "release" | "fix"): void {
  mkdirSync(join(dataDir, "gates"), { recursive: true });
  writeFileSync(gatePath(dataDir, instanceId, gate), "");
}

interface StepKit {
  /** A step that records start/end (and "undo" when `undoable`) around its body. */
  recorded(name: string, opts?: RecordedStepOptions): Step;
  /** A body that blocks until the instance's gate file exists; on abort it records "abort" and rethrows. */
  untilGateOpens(gate: "release" | "fix", step: string): (ctx: StepContext) => Promise<unknown>;
  gateIsOpen(instanceId: string, gate: "release" | "fix"): boolean;
}

interface RecordedStepOptions {
  retry?: RetryPolicy;
  timeoutMs?: number;
  body?: (ctx: StepContext) => Promise<unknown>;
  /** Give it a compensation (recorded as "undo"); a compensated step runs again on a re-run. */
  undoable?: boolean;
}

function stepKit(dataDir: string): StepKit {
  const record = (ctx: StepContext, step: string, kind: TestEventKind) => {
    const event: TestEvent = {
      instanceId: ctx.instanceId,
      step,
      kind,
      attempt: ctx.attempt,
      pid: process.pid,
    };
    // One small append per event: O_APPEND keeps lines whole across processes.
    appendFileSync(eventsPath(dataDir), `${JSON.stringify(event)}\n`);
  };
  const gateIsOpen = (instanceId: string, gate: "release" | "fix") =>
    existsSync(gatePath(dataDir, instanceId, gate));
  return {
    gateIsOpen,
    recorded: (name, opts = {}) => ({
      name,
      output: z.unknown(),
      retry: opts.retry ?? noRetry,
      timeoutMs: opts.timeoutMs ?? 10_000,
      run: async (ctx) => {
        record(ctx, name, "start");
        const output = opts.body ? await opts.body(ctx) : { step: name };
        record(ctx, name, "end");
        return output;
      },
      ...(opts.undoable ? { compensate: async (ctx: StepContext) => record(ctx, name, "undo") } : {}),
    }),
    untilGateOpens: (gate, step) => async (ctx) => {
      while (!gateIsOpen(ctx.instanceId, gate)) {
        if (ctx.signal.aborted) {
          record(ctx, step, "abort");
          throw ctx.signal.reason;
        }
        await Bun.sleep(GATE_POLL_MS);
      }
      return { gate };
    },
  };
}

export function createTestJobs(dataDir: string): JobDefinition[] {
  const kit = stepKit(dataDir);
  return [
    gatedJob(kit),
    flakyJob(kit),
    permanentJob(kit),
    fixableJob(kit),
    waitJob(kit),
    waitDeadlineJob(kit),
  ];
}

/** before → gated (blocks until the "release" gate opens) → after: for kills and shutdowns mid-step. */
function gatedJob({ recorded, untilGateOpens }: StepKit): JobDefinition {
  return {
    name: TEST_OPERATIONS.gated,
    steps: [
      recorded("before"),
      recorded("gated", {
        retry: quickRetry(3),
        timeoutMs: 60_000,
        body: untilGateOpens("release", "gated"),
      }),
      recorded("after"),
    ],
  };
}

/** Fails transiently on attempts 1 and 2, succeeds on 3. */
function flakyJob({ recorded }: StepKit): JobDefinition {
  const body = async (ctx: StepContext) => {
    if (ctx.attempt <= 2) throw new Error(`transient failure on attempt ${ctx.attempt}`);
    return { succeededOnAttempt: ctx.attempt };
  };
  return { name: TEST_OPERATIONS.flaky, steps: [recorded("flaky", { retry: quickRetry(4), body })] };
}

/** Two undoable steps, then a permanent failure despite a 3-attempt policy. */
function permanentJob({ recorded }: StepKit): JobDefinition {
  const explode = () =>
    Promise.reject(new PermanentError("the input can never work", { code: "invalid_input" }));
  return {
    name: TEST_OPERATIONS.permanent,
    steps: [
      recorded("reserve", { undoable: true }),
      recorded("configure", { undoable: true }),
      recorded("explode", { retry: quickRetry(3), body: explode }),
    ],
  };
}

/** "fragile" fails permanently until the "fix" gate opens, so a re-run can succeed. */
function fixableJob({ recorded, gateIsOpen }: StepKit): JobDefinition {
  const fragile = async (ctx: StepContext) => {
    if (!gateIsOpen(ctx.instanceId, "fix")) throw new PermanentError("not fixed yet");
    return { fixed: true };
  };
  return {
    name: TEST_OPERATIONS.fixable,
    steps: [recorded("prepare"), recorded("fragile", { body: fragile }), recorded("finish")],
  };
}

/** What test-wait's first step stores: the data the "callback" signal carried. */
const awaitCallbackRef = stepRef("await-callback", z.record(z.string(), z.unknown()));

/** A durable wait for "callback" (60 s deadline), then a step reading what the signal carried. */
function waitJob({ recorded }: StepKit): JobDefinition {
  return {
    name: TEST_OPERATIONS.wait,
    steps: [
      recorded("await-callback", { body: (ctx) => ctx.waitFor("callback", { timeoutMs: 60_000 }) }),
      recorded("after-wait", { body: async (ctx) => ({ received: ctx.outputOf(awaitCallbackRef) }) }),
    ],
  };
}

/** A durable wait whose 1.5 s deadline passes without the signal. */
function waitDeadlineJob({ recorded }: StepKit): JobDefinition {
  return {
    name: TEST_OPERATIONS.waitDeadline,
    steps: [recorded("await-callback", { body: (ctx) => ctx.waitFor("callback", { timeoutMs: 1500 }) })],
  };
}
