/**
 * startRolloutRunner: the worker's fleet rollouts. Consumes the rollout queue one job at a time; each
 * delivery observes, decides and acts once (jobs/rollout/deliver.ts), then parks the job in the broker until
 * its next look, holding no slot. The rollout lives in the database, so a worker killed mid-rollout loses
 * nothing: the broker hands the job to the next worker once its lock lapses, and it goes on from the records.
 */
import { DelayedError, type Job, UnrecoverableError, Worker } from "bunqueue/client";
import { bundleStoreDir, createBundleStore } from "../bundle/store.ts";
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { Counter, MetricsRegistry } from "../core/metrics.ts";
import { createSealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { connectRolloutBroker, rolloutPayloadSchema, rolloutQueueName } from "../jobs/rollout/broker.ts";
import { deliverRollout, type RolloutDeps } from "../jobs/rollout/deliver.ts";
import { unfinishedRollout } from "../jobs/rollout/store.ts";
import { brokerConnection, connectJobQueue } from "../queue/queue.ts";
import { brokerLongPollMs } from "./broker-poll.ts";

/** Pause between two looks of a running rollout, in ms: an upgrade takes seconds, a batch longer. */
export const ROLLOUT_CHECK_MS = 500;

export interface StartRolloutRunnerOptions {
  /** Broker connection, DATA_DIR (the bundle store), the server type and the secrets keys. */
  config: Config;
  db: Db;
  log: Logger;
  /** Gets rollout_deliveries_total (so one runner per registry). */
  metrics: MetricsRegistry;
}

export interface RunningRolloutRunner {
  /** Stops taking rollout jobs (the delivery in hand finishes) and closes the broker clients; idempotent. */
  stop(): Promise<void>;
}

export async function startRolloutRunner(opts: StartRolloutRunnerOptions): Promise<RunningRolloutRunner> {
  const { config, db, log } = opts;
  const connection = brokerConnection(config);
  const queue = connectJobQueue({ ...connection, db });
  const deps: RolloutDeps = {
    db,
    queue,
    sealer: createSealer(config.secretsKeys),
    store: createBundleStore(bundleStoreDir(config.dataDir)),
    serverType: config.serverType,
    now: Date.now,
    log: log.child({ component: "rollout" }),
  };
  const deliveries = opts.metrics.counter({
    name: "rollout_deliveries_total",
    help: "Deliveries of rollout jobs, by outcome: continue (parked for its next look), finished, error.",
    labelNames: ["outcome"],
  });
  const worker = new Worker(rolloutQueueName, (job) => processRolloutJob(deps, job, deliveries), {
    connection,
    concurrency: 1,
    lockDuration: config.jobLockMs,
    // Rollouts are rare: without a long poll this idle worker would ask the broker 20 times a second.
    pollTimeout: brokerLongPollMs,
  });
  // Without an 'error' listener a broker outage crashes the process; the client reconnects by itself.
  worker.on("error", (err) => log.warn({ err }, "broker connection error (rollouts)"));
  worker.on("failed", (job, err) => {
    if (!(err instanceof UnrecoverableError))
      log.error({ err, rolloutId: job.id }, "rollout delivery failed");
  });
  await resumeUnfinished(db, connection, deps.log);
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    // The delivery in hand is one short look: stopping lets it finish.
    await worker.close();
    await queue.close();
  };
  return {
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/**
 * Makes the unfinished rollout's job due at start: one whose add never reached the broker (or that a broker
 * lost) goes on without an operator's `resume`. A no-op for a live job but a promote.
 */
async function resumeUnfinished(
  db: Db,
  connection: ReturnType<typeof brokerConnection>,
  log: Logger,
): Promise<void> {
  const rollout = unfinishedRollout(db);
  if (rollout === undefined) return;
  const broker = connectRolloutBroker(connection);
  try {
    await broker.runNow(rollout.id);
  } catch (err) {
    log.warn(
      { err, rolloutId: rollout.id },
      "could not make the unfinished rollout's job due; resume adds it",
    );
  } finally {
    await broker.close();
  }
}

async function processRolloutJob(
  deps: RolloutDeps,
  job: Job<unknown>,
  deliveries: Counter<"outcome">,
): Promise<void> {
  const payload = rolloutPayloadSchema.safeParse(job.data);
  if (!payload.success) throw new UnrecoverableError(`invalid rollout payload: ${payload.error.message}`);
  const delivered = await deliverRollout(deps, payload.data.rolloutId).catch((err: unknown) => {
    deliveries.inc({ outcome: "error" });
    throw err;
  });
  deliveries.inc({ outcome: delivered });
  if (delivered === "finished") return;
  const until = deps.now() + ROLLOUT_CHECK_MS;
  await job.moveToDelayed(until, job.token);
  throw new DelayedError(`rollout ${payload.data.rolloutId} looks again at ${new Date(until).toISOString()}`);
}
