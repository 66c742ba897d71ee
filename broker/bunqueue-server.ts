import { dirname, join } from "node:path";
import { forwardLines } from "../core/lines.ts";
import type { Logger } from "../core/log.ts";

/** Where and how the bunqueue server listens; all fields are required (no silent 0.0.0.0 default). */
export interface BunqueueServerOptions {
  /** Directory holding the broker's SQLite file (`queue.sqlite`); also the server's working directory. */
  dataDir: string;
  /** Interface to bind; production and tests use 127.0.0.1. */
  host: string;
  /** TCP port clients (api, worker) connect to. */
  tcpPort: number;
  /** HTTP port serving /health and /ready (no auth) and the token-protected admin API. */
  httpPort: number;
  /** Shared secret every client must present; passed by environment, never on the command line. */
  token: string;
  /** pino level of this process; mapped to the nearest bunqueue level. */
  logLevel: string;
  /** Time the server may spend shutting down after SIGTERM (ms). */
  shutdownTimeoutMs: number;
  log: Logger;
}

export interface BunqueueServer {
  pid: number;
  /** Resolves with the server's exit code (128 + signal number when killed by a signal). */
  exited: Promise<number>;
  /** The last lines the server wrote to stderr, for a clear start-up failure message. */
  stderrTail(): string[];
  kill(signal: NodeJS.Signals): void;
}

const BUNQUEUE_LEVELS: ReadonlyMap<string, string> = new Map([
  ["trace", "debug"],
  ["debug", "debug"],
  ["info", "info"],
  ["warn", "warn"],
  ["error", "error"],
  ["fatal", "error"],
]);

/** The one place that names the broker's queue database inside DATA_DIR. */
export function queueDatabasePath(dataDir: string): string {
  return join(dataDir, "queue.sqlite");
}

/** The CLI entry bunqueue declares in its package.json `bin`, resolved from our node_modules. */
export function bunqueueEntryPath(): string {
  const packageJsonPath = Bun.resolveSync("bunqueue/package.json", import.meta.dir);
  return join(dirname(packageJsonPath), "dist", "main.js");
}

/**
 * The server's whole environment. Built from scratch so the broker never inherits the service's other
 * secrets (HCLOUD_TOKEN, SECRETS_KEY) nor bunqueue variables that happen to be set in the shell.
 */
export function bunqueueEnvironment(opts: BunqueueServerOptions): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOST: opts.host,
    TCP_PORT: String(opts.tcpPort),
    HTTP_PORT: String(opts.httpPort),
    AUTH_TOKENS: opts.token,
    DATA_PATH: queueDatabasePath(opts.dataDir),
    BUNQUEUE_STORAGE_DRIVER: "sqlite",
    LOG_FORMAT: "json",
    LOG_LEVEL: BUNQUEUE_LEVELS.get(opts.logLevel) ?? "info",
    SHUTDOWN_TIMEOUT_MS: String(opts.shutdownTimeoutMs),
  };
}

/**
 * The command that starts the server so that it cannot outlive this process. util-linux's setpriv sets
 * PR_SET_PDEATHSIG (kept across its exec of bun): when the launcher dies, even by SIGKILL with no handler
 * run, the kernel kills the server, under any supervisor (systemd's cgroup clean-up only helps under
 * systemd). Running the server in this process instead is not possible: bunqueue does not export its boot.
 */
function bunqueueServerCommand(setprivPath: string | null): string[] {
  const server = [process.execPath, bunqueueEntryPath()];
  return setprivPath === null ? server : [setprivPath, "--pdeathsig", "KILL", "--", ...server];
}

/** Spawns the bunqueue server CLI as a child of this process and relays its output as JSON log lines. */
export function spawnBunqueueServer(opts: BunqueueServerOptions): BunqueueServer {
  const setpriv = Bun.which("setpriv");
  if (setpriv === null) {
    opts.log.warn("setpriv (util-linux) not found: the bunqueue server may outlive a killed broker launcher");
  }
  const child = Bun.spawn(bunqueueServerCommand(setpriv), {
    cwd: opts.dataDir,
    env: bunqueueEnvironment(opts),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const log = opts.log.child({ server: "bunqueue" });
  const stderrLines: string[] = [];
  const stdoutDone = forwardLines(child.stdout, (line) => relayServerLine(line, log, "info"));
  const stderrDone = forwardLines(child.stderr, (line) => {
    // bunqueue writes its own debug entries to stderr as JSON; anything else there is a crash or bind error.
    if (relayServerLine(line, log, "error")) return;
    stderrLines.push(line);
    if (stderrLines.length > 20) stderrLines.shift();
  });
  // Bun reports a death by signal as 128 + its number, like a shell.
  const exited = Promise.all([child.exited, stdoutDone, stderrDone]).then(([code]) => code);
  return {
    pid: child.pid,
    exited,
    stderrTail: () => [...stderrLines],
    kill: (signal) => child.kill(signal),
  };
}

/**
 * bunqueue writes JSON entries (LOG_FORMAT=json) plus an ANSI banner. Entries are relayed at their own
 * level; other lines at `plainLevel` (the banner is demoted to trace). Returns whether the line was JSON.
 */
function relayServerLine(line: string, log: Logger, plainLevel: "info" | "error"): boolean {
  const entry = parseEntry(line);
  if (entry === undefined) {
    if (plainLevel === "info") log.trace({ line }, "bunqueue output");
    else log.error({ line }, "bunqueue stderr");
    return false;
  }
  const { level, message, timestamp: _timestamp, ...fields } = entry;
  const text = typeof message === "string" ? message : "bunqueue";
  if (level === "error") log.error(fields, text);
  else if (level === "warn") log.warn(fields, text);
  else if (level === "debug") log.debug(fields, text);
  else log.info(fields, text);
  return true;
}

function parseEntry(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}
