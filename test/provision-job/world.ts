/**
 * A real world for the provision and deprovision jobs, in this process: the runner harness (a spawned
 * bunqueue broker, a migrated SQLite file, in-process workers), the Hetzner simulator at a compressed time
 * scale with its fake machines, and the API's real cloud-init callback route behind a loopback endpoint
 * that can swap the host key a machine reports (to play a machine that is not the one that phoned home).
 */

import { eq } from "drizzle-orm";
import { createApiServer } from "../../api/server.ts";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { followOperation } from "../../cli/follow-operation.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { createSealer, type Sealer } from "../../core/secrets.ts";
import { instances } from "../../db/schema.ts";
import { createHetznerClient, type HetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { type CustomerSecrets, type CustomerStore, createCustomerStore } from "../../jobs/customers.ts";
import type { OperationSummary } from "../../jobs/operation-progress.ts";
import { DEFAULT_APP_REPO_URL } from "../../jobs/provision/cloud-init.ts";
import type { ProvisionDeps } from "../../jobs/provision/index.ts";
import { createProductionJobs, type ProductionJobDeps } from "../../jobs/registry.ts";
import { createRequests, type Requests } from "../../jobs/requests.ts";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import type { RunningWorker } from "../../worker/start.ts";
import { type Runtime, startRuntime } from "../runner/harness.ts";

/** 1/100 of Hetzner's timings: create 100 ms, start 200 ms, cloud-init 400 ms (plus the real first-boot commands). */
const TIME_SCALE = 0.01;
/** The simulator deletes in 5 s × TIME_SCALE, plus the real teardown of its fake machine (sandbox, sshd). */
const EXPECTED_DELETION_MS = 1_000;

export interface CallbackEndpoint {
  readonly baseUrl: string;
  /** When set, the callback reports this host key instead of the one the machine's phone_home sent. */
  reportHostKey: string | undefined;
}

export interface ProvisionWorld {
  runtime: Runtime;
  sim: Simulator;
  sealer: Sealer;
  customers: CustomerStore;
  requests: Requests;
  hetzner: HetznerClient;
  callback: CallbackEndpoint;
  /** A worker running the production jobs; `overrides` replace deps or settings (e.g. a short deadline). */
  startWorker(overrides?: WorldOverrides): Promise<RunningWorker>;
  /** Registers a customer with fresh fake secrets whose values all contain `marker`. */
  addCustomer(marker: string): { customerId: string; secrets: CustomerSecrets };
  finish(operationId: string, timeoutMs?: number): Promise<OperationSummary>;
  instance(instanceId: string): typeof instances.$inferSelect;
  /** Hetzner API requests the simulator served since the last `sim.clearRequests()`. */
  requestCount(): number;
  dispose(): Promise<void>;
}

export interface WorldOverrides extends Partial<Omit<ProductionJobDeps, "settings">> {
  settings?: Partial<ProvisionDeps["settings"]>;
}

export async function startProvisionWorld(): Promise<ProvisionWorld> {
  const runtime = await startRuntime();
  const sim = await startSimulator({ timeScale: TIME_SCALE });
  const sealer = createSealer(runtime.config.secretsKeys);
  const callback = startCallbackEndpoint(runtime);
  const hetzner = createHetznerClient({
    endpoint: sim.endpoint,
    token: sim.token,
    budget: new RateLimitBudget(),
    retry: { startingDelayMs: 20, maxDelayMs: 200 },
  });
  const customers = createCustomerStore({ db: runtime.db, sealer });
  let customerCount = 0;
  return {
    runtime,
    sim,
    sealer,
    customers,
    requests: createRequests({ db: runtime.db, queue: runtime.queue }),
    hetzner,
    callback: callback.endpoint,
    startWorker(overrides = {}) {
      const deps: ProductionJobDeps = {
        db: runtime.db,
        hetzner,
        customers,
        sealer,
        expectedServerDeletionMs: EXPECTED_DELETION_MS,
        ...overrides,
        settings: {
          publicBaseUrl: callback.endpoint.baseUrl,
          controlPlaneIps: ["127.0.0.1/32"],
          provisionLocations: ["nbg1", "fsn1", "hel1"],
          serverType: "cx23",
          serverImage: "ubuntu-24.04",
          sshPort: sim.sshPort,
          cloudInitTimeoutMs: 60_000,
          verifySettleMs: 300,
          appRepoUrl: DEFAULT_APP_REPO_URL,
          ...overrides.settings,
        },
      };
      return runtime.startWorker(createProductionJobs(deps));
    },
    addCustomer(marker) {
      customerCount += 1;
      const customerId = `cust-${marker}-${customerCount}`;
      const secrets = fakeCustomerSecrets(marker);
      customers.upsert(customerId, secrets);
      return { customerId, secrets };
    },
    finish: (operationId, timeoutMs = 60_000) =>
      followOperation(runtime.db, operationId, { timeoutMs, onStep: () => undefined }),
    instance(instanceId) {
      const row = runtime.db.select().from(instances).where(eq(instances.id, instanceId)).get();
      if (!row) throw new Error(`no instance ${instanceId}`);
      return row;
    },
    requestCount: () => sim.requests().length,
    async dispose() {
      await runtime.dispose();
      await callback.stop();
      await sim.stop();
    },
  };
}

/** Serves the API's routes on loopback, passing each peer's address through as the API would see it. */
function startCallbackEndpoint(runtime: Runtime) {
  const api = createApiServer({
    config: runtime.config,
    db: runtime.db,
    queue: runtime.queue,
    log: createLogger({ level: "silent" }),
    metrics: createMetrics(),
    port: 0,
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request, self) {
      const peer = self.requestIP(request)?.address ?? null;
      if (endpoint.reportHostKey === undefined) return api.handle(request, peer);
      const form = new URLSearchParams(await request.text());
      form.set("pub_key_ed25519", endpoint.reportHostKey);
      return api.handle(
        new Request(request.url, { method: request.method, headers: request.headers, body: form }),
        peer,
      );
    },
  });
  const endpoint: CallbackEndpoint = { baseUrl: `http://127.0.0.1:${server.port}`, reportHostKey: undefined };
  return {
    endpoint,
    stop: async () => {
      await server.stop(true);
      await api.stop(0);
    },
  };
}
