/** Broker, api and worker as child processes of one command (`bun run dev`, demos), started in order. */
import { join, resolve } from "node:path";
import type { Config } from "../core/config.ts";
import { httpOrigin } from "../core/config-fields.ts";
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
  /** Words put before each process's command (see ServiceSpec.launcher); default none. */
  launcher?: string[];
}

/**
 * Where the started API answers: `private` serves customers, ops and metrics, `public` the payment webhooks
 * and the cloud-init callback, each on its own listener; `apiUrlsOf` is the one place that knows.
 */
export interface ApiUrls {
  readonly private: string;
  readonly public: string;
}

export interface LocalStack {
  readonly services: ReadonlyMap<LocalService, ServiceProcess>;
  readonly apiUrls: ApiUrls;
  /** Resolves with the first service that exits on its own (while the stack is not stopping). */
  readonly firstExit: Promise<{ service: LocalService; code: number }>;
  /** Stops worker and api (SIGTERM, bounded), then the broker; idempotent. */
  stop(): Promise<void>;
}

const repoRoot = resolve(import.meta.dir, "..");

/** Starts broker, api and worker, each once the previous is ready; stops what started if one fails. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const services = new Map<LocalService, ServiceProcess>();
  // SIGKILL only after the processes' own shutdown bound has passed, with a margin.
  const graceMs = options.config.shutdownTimeoutMs + 5000;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all([services.get("worker")?.stop(graceMs), services.get("api")?.stop(graceMs)]);
      await services.get("broker")?.stop(graceMs);
    })();
    return stopping;
  };

  try {
    // One after the other: on a fresh DATA_DIR api and worker would create and migrate the database at once.
    for (const [service, { entry, isReady }] of startOrder(options)) {
      const child = startService({
        name: service,
        entry,
        env: options.env,
        cwd: repoRoot,
        isReady,
        launcher: options.launcher,
        onLine: (line) => options.onLine(service, line),
      });
      services.set(service, child);
      await child.waitReady(readyTimeoutMs);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const firstExit = Promise.race(
    [...services].map(([service, child]) => child.exited.then((code) => ({ service, code }))),
  );
  return { services, apiUrls: apiUrlsOf(options.config), firstExit, stop };
}

/** The API's URLs under this configuration, as seen from this machine. */
export function apiUrlsOf(config: Config): ApiUrls {
  return {
    private: httpOrigin(reachable(config.apiHost), config.apiPort),
    public: httpOrigin(reachable(config.publicApiHost), config.publicApiPort),
  };
}

/** A wildcard listener is reached on this machine's loopback. */
function reachable(host: string): string {
  return host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
}

function startOrder({ config, workerEntry }: LocalStackOptions) {
  const plan: [LocalService, { entry: string; isReady: () => Promise<boolean> }][] = [
    [
      "broker",
      {
        entry: join(repoRoot, "broker/main.ts"),
        isReady: httpReady(`http://${config.brokerHost}:${config.brokerHttpPort}/ready`),
      },
    ],
    [
      "api",
      {
        entry: join(repoRoot, "api/main.ts"),
        isReady: httpReady(`${apiUrlsOf(config).private}/readyz`),
      },
    ],
    [
      "worker",
      {
        entry: workerEntry ?? join(repoRoot, "worker/main.ts"),
        // Without its metrics server the worker has nothing to probe; its first log line shows it started.
        isReady:
          config.workerMetricsPort > 0
            ? httpReady(`http://127.0.0.1:${config.workerMetricsPort}/metrics`)
            : async () => true,
      },
    ],
  ];
  return plan;
}
