import type { Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import type { JobQueue } from "../jobs/queue.ts";

/** Everything routes may use; built by api/main.ts from real clients, by tests from loopback ones. */
export interface ApiDependencies {
  config: Config;
  db: Db;
  queue: JobQueue;
  log: Logger;
  metrics: MetricsRegistry;
}
