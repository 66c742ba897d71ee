import type { Route } from "../router.ts";
import { cloudInitReadyRoute } from "./cloud-init-ready.ts";
import { customersRoute } from "./customers.ts";
import { healthzRoute } from "./healthz.ts";
import { metricsRoute } from "./metrics.ts";
import { readyzRoute } from "./readyz.ts";
import { webhooksRoute } from "./webhooks.ts";

/** Every route the API serves; adding one is a new file plus one line here. */
export const routes: readonly Route[] = [
  healthzRoute,
  readyzRoute,
  metricsRoute,
  cloudInitReadyRoute,
  customersRoute,
  webhooksRoute,
];
