import type { BundleStore } from "../bundle/store.ts";
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import type { JobQueue } from "../queue/queue.ts";
import type { BundleDownloadHandler } from "./bundle-download.ts";
import type { PaymentWebhooks } from "./routes/webhooks.ts";

/** Everything routes may use; built by api/main.ts from real clients, by tests from loopback ones. */
export interface ApiDependencies {
  config: Config;
  db: Db;
  queue: JobQueue;
  log: Logger;
  metrics: MetricsRegistry;
}

/** What routes receive: the dependencies plus the collaborators the server builds from them once, at start. */
export interface RouteDependencies extends ApiDependencies {
  webhooks: PaymentWebhooks;
  /** The app bundles under DATA_DIR/bundles. */
  bundles: BundleStore;
  /** Serves a granted bundle to its server (api/bundle-download.ts). */
  bundleDownload: BundleDownloadHandler;
}
