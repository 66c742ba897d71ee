/**
 * startSweeper: the worker's reconcile sweep. Upserts the broker's job scheduler (so restarts and several
 * workers keep exactly one schedule) and consumes the sweep queue one job at a time; the database claim in
 * jobs/reconcile/sweep-store.ts keeps sweeps of different worker processes from overlapping.
 */
import { DelayedError, type Job, UnrecoverableError, Worker } from "bunqueue/client";
import { sleep } from "../core/abort.ts";
import type { Config } from "../core/config.ts";
import { createCrashHook } from "../core/crash-point.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import { createRequests } from "../domain/requests.ts";
import { connectSweepBroker, sweepPayloadSchema, sweepQueueName } from "../jobs/reconcile/broker.ts";
import { deliverSweep, type SweepDeps } from "../jobs/reconcile/sweep.ts";
import { createSweepMetrics } from "../jobs/reconcile/sweep-metrics.ts";
import { brokerConnection, connectJobQueue } from "../queue/queue.ts";
import { brokerLongPollMs } from "./broker-poll.ts";

export interface StartSweeperOptions {
  /** Broker connection, reconcileIntervalMs and the sweep policy settings. */
  config: Config;
  db: Db;
  log: Logger;
  /** Gets the reconcile_* metrics (so one sweeper per registry). */
  metrics: MetricsRegistry;
  hetznerFor: SweepDeps["hetznerFor"];
  /** How long an operator's sweep that found another running waits before trying again, in ms; default 1000. */
  busyRetryMs?: number;
  /** Longest one sweep may run, in ms; default 600000 (see SweepDeps.timeoutMs). */
  sweepTimeoutMs?: number;
}

export interface RunningSweeper {
  /** Aborts a sweep in hand (recorded failed), stops consuming, closes its broker clients; idempotent. */
  stop(): Promise<void>;
}

/** Pause between attempts to upsert the schedule while the broker is unreachable, in ms. */
const scheduleRetryMs = 5000;

export async function startSweeper(opts: StartSweeperOptions): Promise<RunningSweeper> {
  const { config, db, log } = opts;
  const connection = brokerConnection(config);
  const broker = connectSweepBroker(connection);
  const queue = connectJobQueue({ ...connection, db });
  const shutdown = new AbortController();
  const deps: SweepDeps = {
    db,
    hetznerFor: opts.hetznerFor,
    broker,
    queue,
    requests: createRequests({ db, queue }),
    policy: {
      zombieGraceMs: config.reconcileZombieGraceMs,
      stuckAfterMs: config.reconcileStuckAfterMs,
      reprovisionLost: config.reprovisionLost,
    },
    log,
    metrics: createSweepMetrics(opts.metrics),
    timeoutMs: opts.sweepTimeoutMs,
    leaseTtlMs: config.leaseTtlMs,
    heartbeatMs: config.heartbeatMs,
    shutdown: shutdown.signal,
    crash: createCrashHook(config.crashAt),
  };
  const busyRetryMs = opts.busyRetryMs ?? 1000;
  const worker = new Worker(sweepQueueName, (job) => processSweepJob(deps, job, busyRetryMs), {
    connection,
    concurrency: 1,
    // Sweeps are rare: without a long poll this idle worker would ask the broker 20 times a second.
    pollTimeout: brokerLongPollMs,
  });
  // Without an 'error' listener a broker outage crashes the process; the client reconnects by itself.
  worker.on("error", (err) => log.warn({ err }, "broker connection error (sweeps)"));
  // A sweep records its own failures; this catches what escaped it (e.g. the database failing to record).
  worker.on("failed", (job, err) => log.error({ err, sweepId: job.id }, "sweep delivery failed"));
  const schedule = async () => {
    await broker.scheduleSweeps(config.reconcileIntervalMs);
    log.info({ intervalMs: config.reconcileIntervalMs }, "reconcile sweeps scheduled");
  };
  const scheduling = keepScheduling(schedule, shutdown.signal, log);

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    // Stop taking sweeps first, then abort the one in hand so close() does not wait out its actions.
    const closed = worker.close();
    shutdown.abort(new Error("worker shutting down"));
    await closed;
    await scheduling;
    await Promise.all([broker.close(), queue.close()]);
  };
  return {
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/** Runs one sweep delivery; an operator's sweep that must wait is parked in the broker, holding no slot. */
async function processSweepJob(deps: SweepDeps, job: Job<unknown>, busyRetryMs: number): Promise<void> {
  const payload = sweepPayloadSchema.safeParse(job.data);
  if (!payload.success) throw new UnrecoverableError(`invalid sweep payload: ${payload.error.message}`);
  const request = { id: String(job.id), ...payload.data, requestedAt: job.timestamp };
  if ((await deliverSweep(deps, request)) === "done") return;
  const until = Date.now() + busyRetryMs;
  await job.moveToDelayed(until, job.token);
  throw new DelayedError(`another sweep is running; trying again at ${new Date(until).toISOString()}`);
}

/** Upserts the schedule, trying again while the broker is down, until it succeeds or the worker stops. */
async function keepScheduling(upsert: () => Promise<void>, stopped: AbortSignal, log: Logger): Promise<void> {
  while (!stopped.aborted) {
    try {
      await upsert();
      return;
    } catch (err) {
      log.warn({ err, retryInMs: scheduleRetryMs }, "could not schedule reconcile sweeps; trying again");
      // A stop during the pause ends the loop: the rejection only says the worker stopped.
      await sleep(scheduleRetryMs, stopped).catch(() => undefined);
    }
  }
}
