/**
 * Runtime benchmark against a real broker and SQLite file: enqueue-to-start latency, signal-to-resume
 * latency of parked durable waits, and the worker's memory with parked jobs. `bun bench/runtime.ts`.
 */
import { count, eq } from "drizzle-orm";
import { z } from "zod";
import { pollUntil } from "../core/wait.ts";
import { appDatabasePath, migrateDatabase, openDatabase } from "../db/index.ts";
import { operations } from "../db/schema.ts";
import { type Runtime, startRuntime } from "../harness/runner/harness.ts";
import { createTestStack } from "../harness/support/processes.ts";
import { TEST_OPERATIONS } from "../harness/support/test-jobs.ts";
import type { JobDefinition } from "../jobs/step.ts";
import { connectJobQueue } from "../queue/queue.ts";
import { type BenchFigure, figure, percentile, printFigures } from "./support/figures.ts";

const enqueueJobs = 500;
const warmupJobs = 20;
const parkedForMemory = 100;
const parkedForSignals = 200;

export async function runRuntimeBench(): Promise<BenchFigure[]> {
  const latencies = await measureLatencies();
  const rssMb = await measureWorkerRss();
  return [
    figure(`enqueue-to-start p50 (${enqueueJobs} jobs)`, percentile(latencies.enqueueToStart, 50), "ms"),
    figure(`enqueue-to-start p99 (${enqueueJobs} jobs)`, percentile(latencies.enqueueToStart, 99), "ms", 50),
    figure(
      `signal-to-resume p50 (${parkedForSignals} parked)`,
      percentile(latencies.signalToResume, 50),
      "ms",
    ),
    figure(
      `signal-to-resume p99 (${parkedForSignals} parked)`,
      percentile(latencies.signalToResume, 99),
      "ms",
      100,
    ),
    figure(`worker process RSS with ${parkedForMemory} parked jobs`, rssMb, "MB", 150),
  ];
}

/** Both latencies with the worker in this process (startWorker), so start and resume are timed exactly. */
async function measureLatencies(): Promise<{ enqueueToStart: number[]; signalToResume: number[] }> {
  const started = new Map<string, number>();
  const resumed = new Map<string, number>();
  const runtime = await startRuntime({ collectLogs: false });
  try {
    await runtime.startWorker(benchJobs(started, resumed), { workerConcurrency: 8 });
    const enqueueToStart = await measureEnqueueToStart(runtime, started);
    await parkWaits(runtime, "bench-wait", parkedForSignals);
    const signalToResume = await measureSignalToResume(runtime, resumed);
    return { enqueueToStart, signalToResume };
  } finally {
    await runtime.dispose();
  }
}

/** RSS of a real worker process (the test worker: startWorker with the test jobs) holding parked waits. */
async function measureWorkerRss(): Promise<number> {
  const stack = await createTestStack({ env: { LOG_LEVEL: "warn" } });
  try {
    await stack.start("broker");
    const worker = await stack.start("worker");
    const db = openDatabase(appDatabasePath(stack.dataDir));
    migrateDatabase(db);
    const { BROKER_PORT, BROKER_TOKEN } = stack.env;
    const queue = connectJobQueue({
      host: "127.0.0.1",
      port: Number(BROKER_PORT),
      token: BROKER_TOKEN ?? "",
      db,
    });
    try {
      await parkWaits({ queue, db }, TEST_OPERATIONS.wait, parkedForMemory);
      return residentMb(worker.pid);
    } finally {
      await queue.close();
      db.$client.close();
    }
  } finally {
    await stack.dispose();
  }
}

/** VmRSS of a process, from /proc, in MB. */
async function residentMb(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  return kb / 1024;
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
          output: z.null(),
          retry: once,
          timeoutMs: 5000,
          run: async (ctx) => {
            started.set(ctx.instanceId, performance.now());
            return null;
          },
        },
      ],
    },
    {
      name: "bench-wait",
      steps: [
        {
          name: "await-go",
          output: z.null(),
          retry: once,
          timeoutMs: 5000,
          run: async (ctx) => {
            await ctx.waitFor("go", { timeoutMs: 600_000 });
            resumed.set(ctx.instanceId, performance.now());
            return null;
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

/** Enqueues `total` jobs of an operation that parks on a durable wait and returns once all are parked. */
async function parkWaits(
  runtime: Pick<Runtime, "queue" | "db">,
  operation: string,
  total: number,
): Promise<void> {
  for (let i = 0; i < total; i++) await runtime.queue.enqueue(operation, `wait-${i}`);
  await pollUntil(
    () => {
      const parked = runtime.db
        .select({ n: count() })
        .from(operations)
        .where(eq(operations.status, "parked"))
        .get();
      return (parked?.n ?? 0) >= total;
    },
    { timeoutMs: 60_000, description: `${total} parked jobs` },
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

if (import.meta.main) {
  const met = printFigures("runtime", await runRuntimeBench());
  process.exit(met ? 0 : 1);
}
