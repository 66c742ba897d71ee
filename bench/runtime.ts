/**
 * Runtime benchmark against a real broker and SQLite file: enqueue-to-start latency, signal-to-resume
 * latency of parked durable waits, and the worker's memory with parked jobs. `bun bench/runtime.ts`.
 */
import { count, eq } from "drizzle-orm";
import { pollUntil } from "../cli/wait.ts";
import { operations } from "../db/schema.ts";
import type { JobDefinition } from "../jobs/step.ts";
import { type Runtime, startRuntime } from "../test/runner/harness.ts";

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** The figure must be at most this. */
  target: number;
}

const enqueueJobs = 500;
const warmupJobs = 20;
const parkedForMemory = 100;
const parkedForSignals = 200;

export async function runRuntimeBench(): Promise<BenchFigure[]> {
  const started = new Map<string, number>();
  const resumed = new Map<string, number>();
  const runtime = await startRuntime({ collectLogs: false });
  try {
    await runtime.startWorker(benchJobs(started, resumed), { workerConcurrency: 8 });
    const enqueueToStart = await measureEnqueueToStart(runtime, started);
    await parkWaits(runtime, 0, parkedForMemory);
    Bun.gc(true);
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    await parkWaits(runtime, parkedForMemory, parkedForSignals);
    const signalToResume = await measureSignalToResume(runtime, resumed);
    return [
      {
        name: `enqueue-to-start p50 (${enqueueJobs} jobs)`,
        value: percentile(enqueueToStart, 50),
        unit: "ms",
        target: Number.POSITIVE_INFINITY,
      },
      {
        name: `enqueue-to-start p99 (${enqueueJobs} jobs)`,
        value: percentile(enqueueToStart, 99),
        unit: "ms",
        target: 50,
      },
      {
        name: `signal-to-resume p50 (${parkedForSignals} parked)`,
        value: percentile(signalToResume, 50),
        unit: "ms",
        target: Number.POSITIVE_INFINITY,
      },
      {
        name: `signal-to-resume p99 (${parkedForSignals} parked)`,
        value: percentile(signalToResume, 99),
        unit: "ms",
        target: 100,
      },
      {
        // Worker and producer share this process, so this is an upper bound of the worker's own RSS.
        name: `RSS of worker + producer process with ${parkedForMemory} parked jobs`,
        value: rssMb,
        unit: "MB",
        target: 150,
      },
    ];
  } finally {
    await runtime.dispose();
  }
}

/** One job marks when its step starts; the other parks on a durable wait and marks when it resumes. */
function benchJobs(started: Map<string, number>, resumed: Map<string, number>): JobDefinition[] {
  const once = { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 };
  return [
    {
      name: "bench-start",
      steps: [
        {
          name: "mark",
          retry: once,
          timeoutMs: 5000,
          run: async (ctx) => void started.set(ctx.instanceId, performance.now()),
        },
      ],
    },
    {
      name: "bench-wait",
      steps: [
        {
          name: "await-go",
          retry: once,
          timeoutMs: 5000,
          run: async (ctx) => {
            await ctx.waitFor("go", { timeoutMs: 600_000 });
            resumed.set(ctx.instanceId, performance.now());
          },
        },
      ],
    },
  ];
}

/**
 * Enqueues one job at a time (each awaited, as the API does) and times the enqueue call to the first step
 * start. The first `warmupJobs` are not counted: they measure JIT compilation and connection set-up.
 */
async function measureEnqueueToStart(runtime: Runtime, started: Map<string, number>): Promise<number[]> {
  const enqueuedAt = new Map<string, number>();
  for (let i = 0; i < warmupJobs + enqueueJobs; i++) {
    const instanceId = `start-${i}`;
    if (i >= warmupJobs) enqueuedAt.set(instanceId, performance.now());
    await runtime.queue.enqueue("bench-start", instanceId);
  }
  await pollUntil(() => started.size === warmupJobs + enqueueJobs, {
    timeoutMs: 60_000,
    description: "every bench job to start",
  });
  return [...enqueuedAt].map(([id, at]) => (started.get(id) ?? Number.NaN) - at);
}

/** Enqueues waiting jobs with ids from..to-1 and returns once all are parked. */
async function parkWaits(runtime: Runtime, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) await runtime.queue.enqueue("bench-wait", `wait-${i}`);
  await pollUntil(
    () => {
      const parked = runtime.db
        .select({ n: count() })
        .from(operations)
        .where(eq(operations.status, "parked"))
        .get();
      return (parked?.n ?? 0) >= to;
    },
    { timeoutMs: 60_000, description: `${to} parked jobs` },
  );
}

/**
 * Signals the parked jobs one after another, each once the previous one resumed, so every figure is the
 * latency of one callback while the rest stay parked (the API and worker are separate processes in
 * production; here they share an event loop, and a burst would measure that loop, not the runtime).
 */
async function measureSignalToResume(runtime: Runtime, resumed: Map<string, number>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < parkedForSignals; i++) {
    const instanceId = `wait-${i}`;
    const signalledAt = performance.now();
    await runtime.queue.signal(instanceId, "go", {});
    const resumedAt = await pollUntil(() => resumed.get(instanceId), {
      timeoutMs: 10_000,
      intervalMs: 1,
      description: `${instanceId} to resume`,
    });
    latencies.push(resumedAt - signalledAt);
  }
  return latencies;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

export function printFigures(title: string, figures: readonly BenchFigure[]): boolean {
  console.log(title);
  let met = true;
  for (const figure of figures) {
    const hasTarget = Number.isFinite(figure.target);
    const ok = !hasTarget || figure.value <= figure.target;
    met &&= ok;
    const target = hasTarget ? ` (target <= ${figure.target} ${figure.unit}: ${ok ? "met" : "MISSED"})` : "";
    console.log(`  ${figure.name}: ${figure.value.toFixed(1)} ${figure.unit}${target}`);
  }
  return met;
}

if (import.meta.main) {
  const met = printFigures("runtime", await runRuntimeBench());
  process.exit(met ? 0 : 1);
}
