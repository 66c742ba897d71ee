/** Broker, api and worker as child processes of one command (`bun run dev`, demos), started in order. */
import { join, resolve } from "node:path";
import type { Config } from "../core/config.ts";
import { httpReady, type ServiceProcess, startService } from "./service-process.ts";

export type LocalService = "broker" | "api" | "worker";

export interface LocalStackOptions {
  /** The environment every process gets; must hold a valid configuration. */
  env: Record<string, string>;
  /** The same environment, parsed; used for ports and the shutdown bound. */
  config: Config;
  /** Receives every output line of every process. */
  onLine: (service: LocalService, line: string) => void;
  /** Worker entry; default worker/main.ts (production jobs). */
  workerEntry?: string;
  /** How long each process may take to become ready (ms); default 30000. */
  readyTimeoutMs?: number;
}

export interface LocalStack {
  readonly services: ReadonlyMap<LocalService, ServiceProcess>;
  /** Resolves with the first service that exits on its own (while the stack is not stopping). */
  readonly firstExit: Promise<{ service: LocalService; code: number }>;
  /** Stops worker and api (SIGTERM, bounded), then the broker; idempotent. */
  stop(): Promise<void>;
}

const repoRoot = resolve(import.meta.dir, "..");

/** Starts broker, api and worker, each once the previous is ready; stops what started if one fails. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { config, env } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const services = new Map<LocalService, ServiceProcess>();
  const start = (service: LocalService, entry: string, isReady: () => Promise<boolean>) => {
    const child = startService({
      name: service,
      entry,
      env,
      cwd: repoRoot,
      isReady,
      onLine: (line) => options.onLine(service, line),
    });
    services.set(service, child);
    return child;
  };

  let stopping: Promise<void> | undefined;
  // SIGKILL only after the processes' own shutdown bound has passed, with a margin.
  const graceMs = config.shutdownTimeoutMs + 5000;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(["worker", "api"].map((name) => services.get(name as LocalService)?.stop(graceMs)));
      await services.get("broker")?.stop(graceMs);
    })();
    return stopping;
  };

  try {
    const broker = start(
      "broker",
      join(repoRoot, "broker/main.ts"),
      httpReady(`http://${config.brokerHost}:${config.brokerHttpPort}/ready`),
    );
    await broker.waitReady(readyTimeoutMs);
    const api = start(
      "api",
      join(repoRoot, "api/main.ts"),
      httpReady(`http://${config.apiHost}:${config.apiPort}/readyz`),
    );
    // One after the other: on a fresh DATA_DIR both would create and migrate the database at once.
    await api.waitReady(readyTimeoutMs);
    const worker = start(
      "worker",
      options.workerEntry ?? join(repoRoot, "worker/main.ts"),
      config.workerMetricsPort > 0
        ? httpReady(`http://127.0.0.1:${config.workerMetricsPort}/metrics`)
        : async () => true,
    );
    await worker.waitReady(readyTimeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }

  const firstExit = Promise.race(
    [...services].map(([service, child]) => child.exited.then((code) => ({ service, code }))),
  );
  return { services, firstExit, stop };
}
