/**
 * The ops API for a test file: a real broker and migrated SQLite file (the runner harness) behind a real
 * Bun.serve API on a free loopback port, with OPS_TOKEN set; plus helpers to call it as an operator.
 */
import { afterAll, beforeAll } from "bun:test";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import type { Config } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics, type MetricsRegistry } from "../../core/metrics.ts";
import type { Db } from "../../db/index.ts";
import { type Runtime, startRuntime } from "../../harness/runner/harness.ts";
import type { JobQueue } from "../../queue/queue.ts";

export const OPS_TOKEN = "ops-token-for-tests-0123456789-abcdefgh";

export interface OpsApi {
  api: ApiServer;
  /** Every line the API logged, as text. */
  logText: string[];
  metrics: MetricsRegistry;
  /** A call with the ops token (or `token`, or none with null); the answer's status and parsed body. */
  call(
    method: string,
    path: string,
    token?: string | null,
  ): Promise<{ status: number; body: Record<string, unknown>; text: string }>;
}

/** An API on loopback over `db` and `queue`, with OPS_TOKEN set unless `overrides` says otherwise. */
export function startOpsApi(
  base: { config: Config; db: Db; queue: JobQueue },
  overrides: Partial<Config> = {},
): OpsApi {
  const logText: string[] = [];
  const log = createLogger({ level: "debug", destination: { write: (line: string) => logText.push(line) } });
  const metrics = createMetrics();
  const api = createApiServer({
    config: { ...base.config, opsToken: OPS_TOKEN, apiHost: "127.0.0.1", ...overrides },
    db: base.db,
    queue: base.queue,
    log,
    metrics,
    port: 0,
    publicPort: 0,
  });
  return {
    api,
    logText,
    metrics,
    async call(method, path, token = OPS_TOKEN) {
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
      const text = await response.text();
      return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, text };
    },
  };
}

/** A runtime (broker, database, queue) and an ops API for the calling file, started once and disposed after. */
export function opsApiForFile(): { readonly runtime: Runtime; readonly ops: OpsApi } {
  let runtime: Runtime | undefined;
  let ops: OpsApi | undefined;
  beforeAll(async () => {
    runtime = await startRuntime();
    ops = startOpsApi(runtime);
  });
  afterAll(async () => {
    await ops?.api.stop(100);
    await runtime?.dispose();
  });
  return {
    get runtime() {
      if (!runtime) throw new Error("the runtime exists only inside a test");
      return runtime;
    },
    get ops() {
      if (!ops) throw new Error("the ops API exists only inside a test");
      return ops;
    },
  };
}
