/** `bun run worker`: the worker process with the production jobs, built from config; runs until SIGTERM. */
import { createSealer } from "../core/secrets.ts";
import { createCustomerStore } from "../domain/customers.ts";
import { createHetznerClient } from "../hetzner/index.ts";
import { createProductionJobs } from "../jobs/registry.ts";
import { brokerConnection, connectJobQueue } from "../queue/queue.ts";
import { createSessionHandover } from "../remote/handover.ts";
import { capacityFromConfig } from "./capacity.ts";
import { runWorkerProcess } from "./process.ts";

await runWorkerProcess(
  (config, { db, log, onHetznerRequest, hetznerBudget }) => {
    const sealer = createSealer(config.secretsKeys);
    // Lives as long as the process: it only records signals and promotes the woken jobs.
    const queue = connectJobQueue({ ...brokerConnection(config), db });
    return createProductionJobs({
      db,
      sealer,
      hetzner: createHetznerClient({
        endpoint: config.hcloudEndpoint,
        token: config.hcloudProjects[0].token,
        budget: hetznerBudget,
        log: log.child({ component: "hetzner" }),
        onRequest: onHetznerRequest,
      }),
      customers: createCustomerStore({ db, sealer }),
      sessions: createSessionHandover(),
      settings: config,
      capacity: capacityFromConfig(config, queue.signal),
      expectedServerDeletionMs: config.expectedServerDeletionMs,
    });
  },
  // The sweep's own client (same shared rate-limit budget) so it counts only its own requests.
  (config, { log, onHetznerRequest, hetznerBudget }) =>
    (onRequest) =>
      createHetznerClient({
        endpoint: config.hcloudEndpoint,
        token: config.hcloudProjects[0].token,
        budget: hetznerBudget,
        log: log.child({ component: "hetzner" }),
        onRequest: (event) => {
          onHetznerRequest(event);
          onRequest(event);
        },
      }),
);
