/** The worker process with the test jobs: config, startWorker and signal handling exactly as worker/main.ts. */
import { loadConfigOrExit } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { startWorker } from "../../worker/start.ts";
import { createTestJobs } from "./test-jobs.ts";

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "worker" });
const worker = await startWorker({
  config,
  jobs: createTestJobs(config.dataDir),
  log,
  metrics: createMetrics(),
});

const onSignal = (signal: NodeJS.Signals) => {
  log.info({ signal }, "signal received");
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
