/** `bun run api`: the HTTP API process. Builds the real clients from config and serves until SIGTERM. */

import { loadConfigOrExit } from "../core/config.ts";
import { createCrashHook } from "../core/crash-point.ts";
import { exitWhenDrained } from "../core/exit.ts";
import { createLogger } from "../core/log.ts";
import { createMetrics } from "../core/metrics.ts";
import { createSealer } from "../core/secrets.ts";
import { appDatabasePath, migrateDatabase, openDatabase } from "../db/index.ts";
import { sealClearOwnerIds } from "../domain/customers.ts";
import { brokerConnection, connectJobQueue } from "../queue/queue.ts";
import { createApiServer } from "./server.ts";

/** Time allowed past the drain bound for closing the broker client and the database (ms). */
const SHUTDOWN_MARGIN_MS = 5000;

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "api" });
const db = openDatabase(appDatabasePath(config.dataDir));
migrateDatabase(db);
const sealed = sealClearOwnerIds(db, createSealer(config.secretsKeys));
if (sealed > 0) log.info({ customers: sealed }, "sealed owner ids stored in clear");
const queue = connectJobQueue({ ...brokerConnection(config), db, crash: createCrashHook(config.crashAt) });
const server = createApiServer({ config, db, queue, log, metrics: createMetrics({ processMetrics: true }) });
log.info({ url: server.url }, "api listening");

/** Stops once on SIGTERM or SIGINT; a second signal while stopping is only logged. */
function stopOnSignals(): void {
  let stopping = false;
  const shutDown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      log.info({ signal }, "already stopping");
      return;
    }
    stopping = true;
    log.info({ signal }, "api stopping");
    // Draining is bounded by shutdownTimeoutMs; this bounds the rest (closing the broker client and database).
    setTimeout(() => {
      log.error("api shutdown overran its bound; exiting anyway");
      exitWhenDrained(1);
    }, config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS).unref();
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
}

stopOnSignals();
