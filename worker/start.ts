/** startWorker: consumes operation jobs from the broker and runs them through the step runner. */
import { hostname } from "node:os";
import { UnrecoverableError, Worker } from "bunqueue/client";
import type { Config } from "../core/config.ts";
import { createCrashHook } from "../core/crash-point.ts";
import type { Logger } from "../core/log.ts";
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from "../core/metrics.ts";
import { requestTarget } from "../core/request-target.ts";
import { appDatabasePath, type Db, migrateDatabase, openDatabase } from "../db/index.ts";
import { ShutdownError } from "../jobs/errors.ts";
import type { JobDefinition } from "../jobs/step.ts";
import { operationsQueueName } from "../queue/payload.ts";
import { brokerConnection } from "../queue/queue.ts";
import { brokerLongPollMs } from "./broker-poll.ts";
import type { RunnerDeps } from "./runner/deps.ts";
import { releaseLeasesOf } from "./runner/lease.ts";
import { runOperationJob } from "./runner/run-job.ts";
import { createRunnerMetrics } from "./runner-metrics.ts";

export interface StartWorkerOptions {
  config: Config;
  /** The job definitions this worker runs, by operation name (production: jobs/registry.ts). */
  jobs: readonly JobDefinition[];
  log: Logger;
  /** Gets job_outcomes_total (so one worker per registry); served on workerMetricsPort. */
  metrics: MetricsRegistry;
  /** An already open database (tests, benchmarks); default: open and migrate DATA_DIR's, closed on stop. */
  db?: Db;
  /** Longest a job waits before trying a busy instance lease again, in ms; default 1000. */
  leaseBusyDelayMs?: number;
  /** Source of backoff jitter, uniform in [0, 1); default Math.random (tests pin it). */
  random?: () => number;
}

export interface RunningWorker {
  /** Names this process in lease owners and logs. */
  readonly workerId: string;
  /** Graceful shutdown within config.shutdownTimeoutMs; idempotent (a second call returns the same promise). */
  stop(): Promise<void>;
}

/** Share of shutdownTimeoutMs the step in hand gets to finish before it is aborted. */
const finishShareOfShutdown = 0.75;

export async function startWorker(opts: StartWorkerOptions): Promise<RunningWorker> {
  const { config, log } = opts;
  const ownsDb = opts.db === undefined;
  const db = opts.db ?? openDatabase(appDatabasePath(config.dataDir));
  if (ownsDb) migrateDatabase(db);
  const workerId = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
  const shutdown = new AbortController();
  const deps: RunnerDeps = {
    db,
    log,
    metrics: createRunnerMetrics(opts.metrics),
    workerId,
    leaseTtlMs: config.leaseTtlMs,
    heartbeatMs: config.heartbeatMs,
    jobLockMs: config.jobLockMs,
    leaseBusyDelayMs: opts.leaseBusyDelayMs ?? 1000,
    shutdown: shutdown.signal,
    now: Date.now,
    random: opts.random ?? Math.random,
    crash: createCrashHook(config.crashAt),
  };
  const jobs = new Map(opts.jobs.map((job) => [job.name, job]));
  const worker = new Worker(operationsQueueName, (job) => runOperationJob(deps, jobs, job), {
    connection: brokerConnection(config),
    concurrency: config.workerConcurrency,
    lockDuration: config.jobLockMs,
    // Long-poll the broker: a new or promoted job starts at once instead of at the next 50 ms idle poll.
    pollTimeout: brokerLongPollMs,
  });
  // Without an 'error' listener a broker outage crashes the process; the client reconnects by itself.
  worker.on("error", (err) => log.warn({ err }, "broker connection error"));
  // The runner logs every step outcome; this catches what escaped it (database or broker failures).
  worker.on("failed", (job, err) => {
    if (!(err instanceof UnrecoverableError))
      log.error({ err, jobId: job.id }, "job delivery failed; the broker retries it");
  });
  const metricsServer =
    config.workerMetricsPort > 0 ? serveMetrics(config.workerMetricsPort, opts.metrics) : undefined;
  log.info(
    { workerId, operations: [...jobs.keys()], concurrency: config.workerConcurrency },
    "worker started",
  );

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    log.info({ workerId }, "worker stopping");
    await closeWithinBound(worker, shutdown, config.shutdownTimeoutMs, log);
    const released = releaseLeasesOf(db, workerId);
    if (released > 0) log.warn({ workerId, released }, "released leases of abandoned steps");
    await metricsServer?.stop(true);
    if (ownsDb) db.$client.close();
    log.info({ workerId }, "worker stopped");
  };
  return {
    workerId,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/**
 * Stops taking jobs at once, lets the steps in hand finish for most of the bound (their broker locks
 * are still renewed by the runner), then aborts them, and closes by force if even that does not end them.
 */
async function closeWithinBound(
  worker: Worker,
  shutdown: AbortController,
  shutdownTimeoutMs: number,
  log: Logger,
): Promise<void> {
  const closed = worker.close();
  const finishMs = Math.round(shutdownTimeoutMs * finishShareOfShutdown);
  if (await settlesWithin(closed, finishMs)) return;
  shutdown.abort(new ShutdownError());
  if (await settlesWithin(closed, shutdownTimeoutMs - finishMs)) return;
  log.warn("steps ignored the abort; closing the worker by force");
  await worker.close(true);
}

function serveMetrics(port: number, metrics: MetricsRegistry) {
  return Bun.serve({
    // Metrics stay on loopback; a scraper on the host reads them, nothing else needs to.
    hostname: "127.0.0.1",
    port,
    development: false,
    fetch: async (request) =>
      requestTarget(request).pathname === "/metrics"
        ? new Response(await metrics.render(), { headers: { "content-type": METRICS_CONTENT_TYPE } })
        : new Response("not found", { status: 404 }),
  });
}

/** True if `promise` settles within `ms`; a rejection counts as settled (it is surfaced by its own awaiter). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
