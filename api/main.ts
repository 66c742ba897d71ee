/** `bun run api`: the HTTP API process. Builds the real clients from config and serves until SIGTERM. */
import { exitWhenDrained } from "../cli/exit.ts";
import { loadConfigOrExit } from "../core/config.ts";
import { createLogger } from "../core/log.ts";
import { createMetrics } from "../core/metrics.ts";
import { appDatabasePath, migrateDatabase, openDatabase } from "../db/index.ts";
import { connectJobQueue } from "../jobs/queue.ts";
import { createApiServer } from "./server.ts";

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "api" });
const db = openDatabase(appDatabasePath(config.dataDir));
migrateDatabase(db);
const queue = connectJobQueue({
  host: config.brokerHost,
  port: config.brokerPort,
  token: config.brokerToken,
  db,
});
const server = createApiServer({ config, db, queue, log, metrics: createMetrics() });
log.info({ url: server.url }, "api listening");

let stopping = false;
const shutDown = async (signal: NodeJS.Signals) => {
  if (stopping) {
    log.info({ signal }, "already stopping");
    return;
  }
  stopping = true;
  log.info({ signal }, "api stopping");
  await server.stop();
  await queue.close();
  db.$client.close();
  log.info("api stopped");
  exitWhenDrained(0);
};
const onSignal = (signal: NodeJS.Signals) => {
  shutDown(signal).catch((err: unknown) => {
    log.fatal({ err }, "api shutdown failed");
    exitWhenDrained(1);
  });
};
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);
