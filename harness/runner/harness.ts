/**
 * A real runtime for runner tests: a bunqueue broker spawned on free loopback ports with a token, a
 * freshly migrated SQLite file in a temp dir, a queue client, and in-process workers from startWorker.
 */
import { afterEach, beforeEach, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BunqueueServer, spawnBunqueueServer } from "../../broker/bunqueue-server.ts";
import { type Config, loadConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics, type MetricsRegistry } from "../../core/metrics.ts";
import { isHttpOk, pollUntil } from "../../core/wait.ts";
import { appDatabasePath, type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { brokerConnection, connectJobQueue, type JobQueue } from "../../queue/queue.ts";
import { type RunningWorker, startWorker } from "../../worker/start.ts";
import { freePorts } from "../support/processes.ts";

export interface LogRecord extends Record<string, unknown> {
  msg: string;
  level: number;
}

export interface Runtime {
  config: Config;
  db: Db;
  queue: JobQueue;
  /** Every log line written by the workers of this runtime, parsed. */
  logs: LogRecord[];
  metrics: MetricsRegistry;
  /** Backoff jitter is pinned to its upper bound, so delays are exactly what a test's policy says. */
  startWorker(jobs: readonly JobDefinition[], settings?: Partial<Config>): Promise<RunningWorker>;
  /** kill -9 of the broker, then a new one on the same ports and data file. */
  killAndRestartBroker(): Promise<void>;
  /** Stops workers, the queue client and the broker; removes the temp dir. */
  dispose(): Promise<void>;
}

/** Short locks, leases and heartbeats so crash and lease scenarios resolve in about a second. */
const testSettings = {
  JOB_LOCK_MS: "3000",
  LEASE_TTL_MS: "1500",
  HEARTBEAT_MS: "200",
  SHUTDOWN_TIMEOUT_MS: "4000",
};

export interface RuntimeOptions {
  /** Keep every worker log line in `logs` (default true); benchmarks turn it off to measure memory. */
  collectLogs?: boolean;
  /** Run on this DATA_DIR (say, one a backup was restored into) instead of a fresh one; removed on dispose. */
  dataDir?: string;
}

/**
 * Gives every test of the calling file a fresh runtime (its own broker and database), disposed after it.
 * Each test spawns a broker and waits on real jobs, so the file's timeout leaves a loaded 2-core machine room.
 */
export function runtimePerTest(): { readonly current: Runtime } {
  setDefaultTimeout(30_000);
  let runtime: Runtime | undefined;
  beforeEach(async () => {
    runtime = await startRuntime();
  });
  afterEach(async () => {
    await runtime?.dispose();
    runtime = undefined;
  });
  return {
    get current() {
      if (!runtime) throw new Error("the runtime exists only inside a test");
      return runtime;
    },
  };
}

export async function startRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "rachel-runner-"));
  const config = await runtimeConfig(dataDir);
  let broker = await startBroker(config, dataDir);
  const db = openDatabase(appDatabasePath(dataDir));
  migrateDatabase(db);
  const queue = connectJobQueue({ ...brokerConnection(config), db });
  const logs: LogRecord[] = [];
  const log =
    options.collectLogs === false
      ? createLogger({ level: "silent" })
      : createLogger({
          level: "info",
          destination: { write: (line: string) => logs.push(JSON.parse(line)) },
        });
  const metrics = createMetrics();
  const workers: RunningWorker[] = [];
  return {
    config,
    db,
    queue,
    logs,
    metrics,
    async startWorker(jobs, settings = {}) {
      const worker = await startWorker({
        config: { ...config, ...settings },
        jobs,
        log,
        // Each worker registers its metrics once; a second worker in the same test gets its own registry.
        metrics: workers.length === 0 ? metrics : createMetrics(),
        db,
        leaseBusyDelayMs: 200,
        random: () => 1,
      });
      workers.push(worker);
      return worker;
    },
    async killAndRestartBroker() {
      broker.kill("SIGKILL");
      await broker.exited;
      broker = await startBroker(config, dataDir);
    },
    async dispose() {
      await Promise.all(workers.map((worker) => worker.stop()));
      await queue.close();
      broker.kill("SIGTERM");
      await broker.exited;
      db.$client.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function runtimeConfig(dataDir: string): Promise<Config> {
  const [brokerPort, brokerHttpPort] = await freePorts(2);
  return loadConfig({
    DATA_DIR: dataDir,
    BROKER_HOST: "127.0.0.1",
    BROKER_PORT: String(brokerPort),
    BROKER_HTTP_PORT: String(brokerHttpPort),
    BROKER_TOKEN: crypto.randomUUID(),
    SECRETS_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
    HCLOUD_TOKEN: "unused-in-runner-tests",
    WORKER_METRICS_PORT: "0",
    WORKER_CONCURRENCY: "4",
    LOG_LEVEL: "info",
    ...testSettings,
  });
}

/** Brokers still running, killed if the test process exits before disposing them (e.g. on a crash). */
const liveBrokers = new Set<BunqueueServer>();
process.on("exit", () => {
  for (const broker of liveBrokers) broker.kill("SIGKILL");
});

async function startBroker(config: Config, dataDir: string): Promise<BunqueueServer> {
  const broker = spawnBunqueueServer({
    dataDir,
    host: config.brokerHost,
    tcpPort: config.brokerPort,
    httpPort: config.brokerHttpPort,
    token: config.brokerToken,
    logLevel: "warn",
    shutdownTimeoutMs: 1000,
    log: createLogger({ level: "silent" }),
  });
  liveBrokers.add(broker);
  void broker.exited.then(() => liveBrokers.delete(broker));
  await pollUntil(() => isHttpOk(`http://127.0.0.1:${config.brokerHttpPort}/ready`), {
    timeoutMs: 15_000,
    description: "the broker's /ready",
  });
  return broker;
}
