import { type BundleStore, bundleStoreDir, createBundleStore } from "../bundle/store.ts";
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import { createSealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { type CloudInitCallbacks, createCloudInitCallbacks } from "../domain/cloud-init-callback.ts";
import { type CustomerRegistrations, createCustomerRegistrations } from "../domain/customer-registration.ts";
import type { StatusReportDeps } from "../domain/ops/status.ts";
import { createRequests, type Requests } from "../domain/requests.ts";
import { capacitySettingsOf } from "../jobs/capacity/line.ts";
import { createOperatorSweeps, type OperatorSweeps } from "../jobs/reconcile/operator-sweep.ts";
import { createOperatorRollouts, type OperatorRollouts } from "../jobs/rollout/operator.ts";
import type { UpgradeRequestDeps } from "../jobs/upgrade/request.ts";
import { brokerConnection, type JobQueue } from "../queue/queue.ts";
import { type BundleDownloadHandler, createBundleDownloadHandler } from "./bundle-download.ts";
import { createPaymentWebhooks, type PaymentWebhooks } from "./routes/webhooks.ts";

/** Everything routes may use; built by api/main.ts from real clients, by tests from loopback ones. */
export interface ApiDependencies {
  config: Config;
  db: Db;
  queue: JobQueue;
  log: Logger;
  metrics: MetricsRegistry;
  /** Clock, in epoch ms; default Date.now (a test may pass a fixed one). */
  now?: () => number;
}

/** What routes receive: the dependencies plus the collaborators built from them once, at start. */
export interface RouteDependencies extends ApiDependencies {
  now: () => number;
  /** Provisions and deprovisions asked for (jobs/requests.ts). */
  requests: Requests;
  /** PUT /v1/customers: stores the secrets and asks for what they owe. */
  registrations: CustomerRegistrations;
  /** cloud-init's phone_home reports. */
  cloudInitCallbacks: CloudInitCallbacks;
  webhooks: PaymentWebhooks;
  /** What `ops upgrade` needs (jobs/upgrade/request.ts). */
  upgrades: UpgradeRequestDeps;
  /** What `ops status` reads (jobs/ops/status.ts). */
  status: StatusReportDeps;
  /** `ops reconcile`: operator sweeps. */
  sweeps: OperatorSweeps;
  /** `ops rollout`: start, read, pause and resume the fleet rollout. */
  rollouts: OperatorRollouts;
  /** The app bundles under DATA_DIR/bundles. */
  bundles: BundleStore;
  /** Serves a granted bundle to its server (api/bundle-download.ts). */
  bundleDownload: BundleDownloadHandler;
}

/** Builds every collaborator of the routes once, from the dependencies. */
export function createRouteDependencies(deps: ApiDependencies): RouteDependencies {
  const { config, db, queue, log } = deps;
  const now = deps.now ?? Date.now;
  const sealer = createSealer(config.secretsKeys);
  const bundles = createBundleStore(bundleStoreDir(config.dataDir));
  const broker = brokerConnection(config);
  const requests = createRequests({ db, queue, now });
  const payments = { db, requests, now };
  return {
    ...deps,
    now,
    requests,
    registrations: createCustomerRegistrations({ db, sealer, queue, payments, now }),
    cloudInitCallbacks: createCloudInitCallbacks({ db, queue, sealer, now }),
    webhooks: createPaymentWebhooks({ ...deps, payments }),
    upgrades: { db, queue, sealer, store: bundles, serverType: config.serverType, now },
    status: {
      db,
      capacity: capacitySettingsOf(config),
      backup: config.backup,
      broker,
      now,
    },
    sweeps: createOperatorSweeps({ db, broker, now }),
    rollouts: createOperatorRollouts({ db, store: bundles, broker, serverType: config.serverType, now }),
    bundles,
    bundleDownload: createBundleDownloadHandler({ db, sealer, store: bundles, log, now }),
  };
}
