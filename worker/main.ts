/** `bun run worker`: the worker process with the production jobs, built from config; runs until SIGTERM. */
import { createSealer } from "../core/secrets.ts";
import { createHetznerClient } from "../hetzner/index.ts";
import { createCustomerStore } from "../jobs/customers.ts";
import { createProductionJobs } from "../jobs/registry.ts";
import { createSessionHandover } from "../jobs/remote/handover.ts";
import { runWorkerProcess } from "./process.ts";

await runWorkerProcess(
  (config, { db, log, onHetznerRequest }) => {
    const sealer = createSealer(config.secretsKeys);
    return createProductionJobs({
      db,
      sealer,
      hetzner: createHetznerClient({
        endpoint: config.hcloudEndpoint,
        token: config.hcloudToken,
        log: log.child({ component: "hetzner" }),
        onRequest: onHetznerRequest,
      }),
      customers: createCustomerStore({ db, sealer }),
      sessions: createSessionHandover(),
      settings: config,
      expectedServerDeletionMs: config.expectedServerDeletionMs,
    });
  },
  // The sweep's own client (same shared rate-limit budget) so it counts only its own requests.
  (config, { log, onHetznerRequest }) =>
    (onRequest) =>
      createHetznerClient({
        endpoint: config.hcloudEndpoint,
        token: config.hcloudToken,
        log: log.child({ component: "hetzner" }),
        onRequest: (event) => {
          onHetznerRequest(event);
          onRequest(event);
        },
      }),
);
