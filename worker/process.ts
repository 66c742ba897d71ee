/** The worker process around startWorker: config, logger, metrics and signal handling, shared by every entry. */
import { type Config, loadConfigOrExit } from "../core/config.ts";
import { exitWhenDrained } from "../core/exit.ts";
import { createLogger } from "../core/log.ts";
import { createMetrics } from "../core/metrics.ts";
import type { JobDefinition } from "../jobs/step.ts";
import { startWorker } from "./start.ts";

/** Reads config once, starts the worker with the jobs `jobsFor` builds, and stops it gracefully on SIGTERM/SIGINT. */
export async function runWorkerProcess(jobsFor: (config: Config) => readonly JobDefinition[]): Promise<void> {
  const config = loadConfigOrExit(process.env);
  const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "worker" });
  const worker = await startWorker({ config, jobs: jobsFor(config), log, metrics: createMetrics() });

  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, "signal received");
    // stop() is idempotent: a second SIGTERM joins the shutdown already under way.
    worker.stop().then(
      () => exitWhenDrained(0),
      (err: unknown) => {
        log.fatal({ err }, "worker shutdown failed");
        exitWhenDrained(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
