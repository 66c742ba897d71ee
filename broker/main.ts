/**
 * `bun run broker`: the bunqueue server on BROKER_HOST (127.0.0.1) with token auth, its queue in DATA_DIR.
 * bunqueue is spawned through its public CLI entry rather than imported: its boot function is not exported,
 * and a child gets an environment holding only the broker's own settings.
 */
import { mkdirSync } from "node:fs";
import { constants } from "node:os";
import { loadConfigOrExit } from "../core/config.ts";
import { exitWhenDrained } from "../core/exit.ts";
import { createLogger } from "../core/log.ts";
import { isHttpOk, pollUntil, WaitTimeoutError } from "../core/wait.ts";
import { type BunqueueServer, spawnBunqueueServer } from "./bunqueue-server.ts";
import { findUnbindablePort } from "./ports.ts";

/** Exit code of a child killed by SIGTERM (128 + its number), as Bun reports it. */
const DIED_OF_SIGTERM = 128 + constants.signals.SIGTERM;
/** How long the server gets to bind and open its database before start-up counts as failed (ms). */
const STARTUP_TIMEOUT_MS = 30_000;

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: "broker" });
const endpoints = {
  host: config.brokerHost,
  tcpPort: config.brokerPort,
  httpPort: config.brokerHttpPort,
};

exitWhenDrained(await runBroker());

/** Runs the server until it exits; resolves with this process's exit code. */
async function runBroker(): Promise<number> {
  const takenPort = findUnbindablePort(config.brokerHost, [config.brokerPort, config.brokerHttpPort]);
  if (takenPort !== undefined) {
    log.fatal(
      endpoints,
      `broker could not start: cannot listen on ${config.brokerHost}:${takenPort} (in use?)`,
    );
    return 1;
  }
  mkdirSync(config.dataDir, { recursive: true });
  const server = spawnBunqueueServer({
    ...endpoints,
    dataDir: config.dataDir,
    token: config.brokerToken,
    logLevel: config.logLevel,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    log,
  });

  let stopping = false;
  const forwardStop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping broker");
    server.kill("SIGTERM");
  };
  process.on("SIGTERM", forwardStop);
  process.on("SIGINT", forwardStop);

  const ready = await becameReady(server);
  // A stop asked for while starting (systemd signals the whole group, server included) is a clean stop.
  if (!ready && !stopping) {
    log.fatal(
      { ...endpoints, exitCode: await server.exited, serverError: server.stderrTail().join("\n") },
      `broker could not start on ${config.brokerHost}:${config.brokerPort} (tcp) / :${config.brokerHttpPort} (http)`,
    );
    return 1;
  }
  if (ready) log.info({ ...endpoints, serverPid: server.pid }, "broker ready");

  const exitCode = await server.exited;
  // Signalled before it installed its own handlers, the server dies of the SIGTERM itself: still the stop asked for.
  if (stopping && (exitCode === 0 || exitCode === DIED_OF_SIGTERM)) {
    log.info("broker stopped");
    return 0;
  }
  log.error({ exitCode }, "broker server exited unexpectedly");
  return exitCode === 0 ? 1 : exitCode;
}

/** True once /ready answers; false if the server exits first (typically: a port is taken) or hangs. */
async function becameReady(child: BunqueueServer): Promise<boolean> {
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  const readyUrl = `http://${config.brokerHost}:${config.brokerHttpPort}/ready`;
  try {
    const state = await pollUntil(async () => (exited ? "exited" : (await isHttpOk(readyUrl)) && "ready"), {
      timeoutMs: STARTUP_TIMEOUT_MS,
      description: `broker ${readyUrl}`,
    });
    return state === "ready";
  } catch (err) {
    if (!(err instanceof WaitTimeoutError)) throw err;
    child.kill("SIGKILL");
    return false;
  }
}
