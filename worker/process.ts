/** The worker process around startWorker: config, logger, metrics and signal handling, shared by every entry. */

import { type Config, loadConfigOrExit } from "../core/config.ts";
import { exitWhenDrained } from "../core/exit.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { createMetrics } from "../core/metrics.ts";
import { createSealer } from "../core/secrets.ts";
import { appDatabasePath, type Db, migrateDatabase, openDatabase } from "../db/index.ts";
import { sealClearOwnerIds } from "../domain/customers.ts";
import type { SweepDeps } from "../jobs/reconcile/sweep.ts";
import type { JobDefinition } from "../jobs/step.ts";
import { brokerConnection } from "../queue/queue.ts";
import { registerCapacityMetrics, wakeWaitingAtStart } from "./capacity.ts";
import { createWorkerHetzner, type WorkerHetzner } from "./hetzner-projects.ts";
import { registerQueueDepthMetrics } from "./queue-depth-metrics.ts";
import { startRolloutRunner } from "./rollouts.ts";
import { startWorker } from "./start.ts";
import { startSweeper } from "./sweeper.ts";

/** What a job factory may build its dependencies from besides config: the process's database and logger. */
export interface WorkerProcessRuntime {
  db: Db;
  log: Logger;
  /** The configured Hetzner projects, each with its rate-limit budget shared by this process's clients of it. */
  hetzner: WorkerHetzner;
}

/**
 * Reads config once, starts the worker with the jobs `jobsFor` builds, and stops it gracefully on SIGTERM/SIGINT.
 * With `sweepHetznerFor`, the process also runs the scheduled reconcile sweep with the Hetzner clients it builds.
 */
export async function runWorkerProcess(
  jobsFor: (config: Config, runtime: WorkerProcessRuntime) => readonly JobDefinition[],
  sweepHetznerFor?: (config: Config, runtime: WorkerProcessRuntime) => SweepDeps["hetznerFor"],
): Promise<void> {
  const config = loadConfigOrExit(process.env);
  const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "worker" });
  // Opened here, not in startWorker, so the jobs' steps and the runner share one connection.
  const db = openDatabase(appDatabasePath(config.dataDir));
  migrateDatabase(db);
  const sealed = sealClearOwnerIds(db, createSealer(config.secretsKeys));
  if (sealed > 0) log.info({ customers: sealed }, "sealed owner ids stored in clear");
  const metrics = createMetrics({ processMetrics: true });
  const hetzner = createWorkerHetzner(config, { log, metrics });
  const runtime = { db, log, hetzner };
  const stopRecordingBudgets = hetzner.recordBudgets(db);
  registerQueueDepthMetrics(metrics, brokerConnection(config), log);
  registerCapacityMetrics(metrics, db, config);
  const jobs = jobsFor(config, runtime);
  // Listening before the worker takes its first job: a SIGTERM while it starts drains it too, never kills it.
  let stop: (() => void) | undefined;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, "signal received");
    signalled = true;
    stop?.();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const worker = await startWorker({ config, jobs, log, metrics, db });
  await wakeWaitingAtStart(config, db, log);
  const rollouts = await startRolloutRunner({ config, db, log, metrics });
  const sweeper = sweepHetznerFor
    ? await startSweeper({
        config,
        db,
        log: log.child({ component: "reconcile" }),
        metrics,
        hetznerFor: sweepHetznerFor(config, runtime),
      })
    : undefined;

  stop = () => {
    // stop() is idempotent: a second SIGTERM joins the shutdown already under way.
    Promise.all([worker.stop(), rollouts.stop(), sweeper?.stop()]).then(
      () => {
        stopRecordingBudgets();
        db.$client.close();
        exitWhenDrained(0);
      },
      (err: unknown) => {
        log.fatal({ err }, "worker shutdown failed");
        exitWhenDrained(1);
      },
    );
  };
  if (signalled) stop();
}
