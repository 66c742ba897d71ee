/**
 * Real broker / api / worker processes for tests, started as production starts them, on free loopback
 * ports with a temp DATA_DIR. Every process is killed when its stack is disposed or this process exits.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { httpReady, type ServiceProcess, signalGroup, startService } from "../../cli/service-process.ts";
import { pollUntil } from "../../core/wait.ts";

export type ServiceName = "broker" | "api" | "worker";

/** One output line of a test process; `json` is set when the line is a JSON log entry. */
export interface LogLine {
  service: ServiceName;
  /** Which start of the service produced it: 1 for the first, 2 after a restart, … */
  generation: number;
  text: string;
  readonly json?: Record<string, unknown>;
}

export interface TestStackOptions {
  /** Worker entry; default harness/support/test-worker.ts (the real startWorker with the test jobs). */
  workerEntry?: string;
  /** Extra or overriding environment for every process (e.g. JOB_LOCK_MS). */
  env?: Record<string, string>;
}

export interface TestStack {
  readonly dataDir: string;
  /** The environment every process gets (config variables); tests may read ports and the token from it. */
  readonly env: Readonly<Record<string, string>>;
  /** The API's private listener (customers, ops, metrics, health). */
  readonly apiUrl: string;
  /** The API's public listener (webhooks, cloud-init callbacks). */
  readonly publicApiUrl: string;
  readonly brokerHttpUrl: string;
  /** Starts (or restarts) a service and resolves once it is ready. */
  start(service: ServiceName, timeoutMs?: number): Promise<ServiceProcess>;
  /** Starts a service without waiting for readiness (for processes expected to fail at start). */
  spawn(service: ServiceName, env?: Record<string, string>): ServiceProcess;
  /** The running process of a service, if any. */
  running(service: ServiceName): ServiceProcess | undefined;
  /** SIGKILL to the service's whole process group; resolves once it is gone. */
  kill(service: ServiceName): Promise<number>;
  /** SIGTERM; resolves with the exit code (SIGKILL after `graceMs`, default 15000). */
  stop(service: ServiceName, graceMs?: number): Promise<number>;
  /** Every line the service has written so far, across restarts. */
  logs(service: ServiceName): LogLine[];
  /** Resolves with the first log line (from now on or already written) matching `predicate`. */
  waitForLog(
    service: ServiceName,
    predicate: (line: LogLine) => boolean,
    timeoutMs?: number,
  ): Promise<LogLine>;
  /** Kills every process and removes DATA_DIR. */
  dispose(): Promise<void>;
}

const repoRoot = resolve(import.meta.dir, "../..");
const entries: Record<ServiceName, string> = {
  broker: join(repoRoot, "broker/main.ts"),
  api: join(repoRoot, "api/main.ts"),
  worker: join(repoRoot, "harness/support/test-worker.ts"),
};
/** Generous: three bun processes starting on a loaded 2-core machine. */
const READY_TIMEOUT_MS = 30_000;

const livePids = new Set<number>();
process.on("exit", () => {
  for (const pid of livePids) signalGroup(pid, "SIGKILL");
});

/** Ports the OS reports free right now; all are held open together so they are distinct. */
export async function freePorts(count: number): Promise<number[]> {
  const listeners = Array.from({ length: count }, () =>
    Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }),
  );
  const ports = listeners.map((listener) => listener.port);
  for (const listener of listeners) listener.stop(true);
  return ports;
}

/** Test-only settings: short locks and leases so crash recovery happens in seconds, not the default 30 s. */
export async function testEnvironment(dataDir: string): Promise<Record<string, string>> {
  const [apiPort, publicApiPort, brokerPort, brokerHttpPort, workerMetricsPort] = await freePorts(5);
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    DATA_DIR: dataDir,
    API_HOST: "127.0.0.1",
    API_PORT: String(apiPort),
    PUBLIC_API_HOST: "127.0.0.1",
    PUBLIC_API_PORT: String(publicApiPort),
    BROKER_HOST: "127.0.0.1",
    BROKER_PORT: String(brokerPort),
    BROKER_HTTP_PORT: String(brokerHttpPort),
    BROKER_TOKEN: crypto.randomUUID(),
    SECRETS_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
    HCLOUD_TOKEN: "test-hcloud-token",
    HCLOUD_ENDPOINT: "http://127.0.0.1:9",
    WORKER_METRICS_PORT: String(workerMetricsPort),
    WORKER_CONCURRENCY: "4",
    JOB_LOCK_MS: "4000",
    LEASE_TTL_MS: "4000",
    HEARTBEAT_MS: "500",
    SHUTDOWN_TIMEOUT_MS: "5000",
    LOG_LEVEL: "debug",
  };
}

export async function createTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const dataDir = mkdtempSync(join(tmpdir(), "rachel-stack-"));
  const env = { ...(await testEnvironment(dataDir)), ...options.env };
  const processEntries = { ...entries, worker: options.workerEntry ?? entries.worker };
  const readiness = readinessChecks(env);
  const processes = new Map<ServiceName, ServiceProcess>();
  const generations = new Map<ServiceName, number>();
  const lines: LogLine[] = [];

  const spawn = (service: ServiceName, extraEnv: Record<string, string> = {}): ServiceProcess => {
    const generation = (generations.get(service) ?? 0) + 1;
    generations.set(service, generation);
    const child = startService({
      name: service,
      entry: processEntries[service],
      env: { ...env, ...extraEnv },
      cwd: repoRoot,
      isReady: readiness[service],
      onLine: (text) => lines.push(logLine(service, generation, text)),
    });
    livePids.add(child.pid);
    void child.exited.then(() => livePids.delete(child.pid));
    // A second copy started to watch it fail must not take the running one's place.
    if (!running(service)) processes.set(service, child);
    return child;
  };
  const running = (service: ServiceName) => {
    const child = processes.get(service);
    return child && child.exitCode() === undefined ? child : undefined;
  };
  const latest = (service: ServiceName) => {
    const child = processes.get(service);
    if (!child) throw new Error(`${service} was never started`);
    return child;
  };

  return {
    dataDir,
    env,
    apiUrl: `http://127.0.0.1:${env.API_PORT}`,
    publicApiUrl: `http://127.0.0.1:${env.PUBLIC_API_PORT}`,
    brokerHttpUrl: `http://127.0.0.1:${env.BROKER_HTTP_PORT}`,
    async start(service, timeoutMs = READY_TIMEOUT_MS) {
      const child = spawn(service);
      await child.waitReady(timeoutMs);
      return child;
    },
    spawn,
    running,
    kill: (service) => {
      latest(service).signal("SIGKILL");
      return latest(service).exited;
    },
    stop: (service, graceMs = 15_000) => latest(service).stop(graceMs),
    logs: (service) => lines.filter((line) => line.service === service),
    waitForLog: (service, predicate, timeoutMs = 20_000) =>
      pollUntil(() => lines.find((line) => line.service === service && predicate(line)), {
        timeoutMs,
        description: `a matching ${service} log line`,
      }),
    async dispose() {
      await Promise.all([...processes.values()].map((child) => child.stop(2000)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Ready means: the broker's /ready, the api's /healthz (readiness is what tests check), the worker's metrics. */
function readinessChecks(env: Record<string, string>): Record<ServiceName, () => Promise<boolean>> {
  return {
    broker: httpReady(`http://127.0.0.1:${env.BROKER_HTTP_PORT}/ready`),
    api: httpReady(`http://127.0.0.1:${env.API_PORT}/healthz`),
    worker: httpReady(`http://127.0.0.1:${env.WORKER_METRICS_PORT}/metrics`),
  };
}

/** Parsed on first look: a benchmark's API writes thousands of lines nobody reads. */
function logLine(service: ServiceName, generation: number, text: string): LogLine {
  let parsed: { json?: Record<string, unknown> } | undefined;
  return {
    service,
    generation,
    text,
    get json() {
      parsed ??= parseJson(text);
      return parsed.json;
    },
  };
}

function parseJson(text: string): { json?: Record<string, unknown> } {
  if (!text.startsWith("{")) return {};
  try {
    return { json: JSON.parse(text) as Record<string, unknown> };
  } catch (err) {
    if (err instanceof SyntaxError) return {};
    throw err;
  }
}
