/** `bun run worker`: the worker process. Builds the real dependencies from config and runs until SIGTERM. */
import { loadConfigOrExit } from "../core/config.ts";
import { createLogger } from "../core/log.ts";
import { createMetrics } from "../core/metrics.ts";
import { productionJobs } from "../jobs/registry.ts";
import { startWorker } from "./start.ts";

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "worker" });
const worker = await startWorker({ config, jobs: productionJobs, log, metrics: createMetrics() });

const onSignal = (signal: NodeJS.Signals) => {
  log.info({ signal }, "signal received");
  // stop() is idempotent: a second SIGTERM joins the shutdown already under way.
  worker.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.fatal({ err }, "worker shutdown failed");
      process.exit(1);
    },
  );
};
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);
