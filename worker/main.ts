/** `bun run worker`: the worker process with the production jobs, built from config; runs until SIGTERM. */
import { createSealer } from "../core/secrets.ts";
import { createCustomerStore } from "../domain/customers.ts";
import { createProductionJobs } from "../jobs/registry.ts";
import { brokerConnection, connectJobQueue } from "../queue/queue.ts";
import { createSessionHandover } from "../remote/handover.ts";
import { capacityFromConfig } from "./capacity.ts";
import { runWorkerProcess } from "./process.ts";

await runWorkerProcess(
  (config, { db, hetzner }) => {
    const sealer = createSealer(config.secretsKeys);
    // Lives as long as the process: it only records signals and promotes the woken jobs.
    const queue = connectJobQueue({ ...brokerConnection(config), db });
    return createProductionJobs({
      db,
      sealer,
      projects: hetzner.projects(),
      customers: createCustomerStore({ db, sealer }),
      sessions: createSessionHandover(),
      settings: config,
      capacity: capacityFromConfig(config, queue.signal),
      expectedServerDeletionMs: config.expectedServerDeletionMs,
    });
  },
  // The sweep's own clients (on the same per-project budgets) so it counts only its own requests.
  (_config, { hetzner }) =>
    (onRequest) =>
      hetzner.projects(onRequest),
);
