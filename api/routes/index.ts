import type { ApiRoutes } from "../router.ts";
import { bundleDownloadRoute } from "./bundle-download.ts";
import { cloudInitReadyRoute } from "./cloud-init-ready.ts";
import { customerStateRoute } from "./customer-state.ts";
import { customersRoute } from "./customers.ts";
import { healthzRoute } from "./healthz.ts";
import { metricsRoute } from "./metrics.ts";
import { opsBundlesRoute } from "./ops-bundles.ts";
import { opsDeprovisionRoute } from "./ops-deprovision.ts";
import { opsInstanceRoute } from "./ops-instance.ts";
import { opsInstancesRoute } from "./ops-instances.ts";
import { opsJobsRoute } from "./ops-jobs.ts";
import { opsReconcileRoute, opsSweepRoute } from "./ops-reconcile.ts";
import { opsRetryRoute } from "./ops-retry.ts";
import {
  opsRolloutPauseRoute,
  opsRolloutResumeRoute,
  opsRolloutRoute,
  opsRolloutStartRoute,
} from "./ops-rollout.ts";
import { opsStatusRoute } from "./ops-status.ts";
import { opsUpgradeRoute } from "./ops-upgrade.ts";
import { readyzRoute } from "./readyz.ts";
import { webhooksRoute } from "./webhooks.ts";

/**
 * Every route the API serves, by listener; adding one is a new file plus one line here. The public
 * listener faces the internet: only what payment providers and our servers must reach goes there.
 */
export const routes: ApiRoutes = {
  public: [webhooksRoute, cloudInitReadyRoute, bundleDownloadRoute],
  private: [
    healthzRoute,
    readyzRoute,
    metricsRoute,
    customersRoute,
    customerStateRoute,
    opsStatusRoute,
    opsInstancesRoute,
    opsInstanceRoute,
    opsJobsRoute,
    opsRetryRoute,
    opsDeprovisionRoute,
    opsUpgradeRoute,
    opsReconcileRoute,
    opsSweepRoute,
    opsBundlesRoute,
    opsRolloutStartRoute,
    opsRolloutRoute,
    opsRolloutPauseRoute,
    opsRolloutResumeRoute,
  ],
};
