/**
 * A real world for the provision and deprovision jobs, in this process: the runner harness (a spawned
 * bunqueue broker, a migrated SQLite file, in-process workers), the Hetzner simulator at a compressed time
 * scale with its fake machines, and the API's real cloud-init callback route behind a loopback endpoint
 * that can swap the host key a machine reports (to play a machine that is not the one that phoned home).
 */

import { afterAll, afterEach, beforeAll } from "bun:test";
import { eq } from "drizzle-orm";
import { createApiServer } from "../../api/server.ts";
import { bundleStoreDir } from "../../bundle/store.ts";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { followOperation } from "../../cli/follow-operation.ts";
import { DEFAULT_PROJECT } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { createSealer, type Sealer } from "../../core/secrets.ts";
import { instances } from "../../db/schema.ts";
import { type CustomerSecrets, type CustomerStore, createCustomerStore } from "../../domain/customers.ts";
import type { OperationSummary } from "../../domain/operation-progress.ts";
import { createRequests, type Requests } from "../../domain/requests.ts";
import {
  createHetznerClient,
  type HetznerClient,
  RateLimitBudget,
  type Server,
  type SshKey,
} from "../../hetzner/index.ts";
import { type HetznerProject, hetznerProjects } from "../../jobs/capacity/projects.ts";
import type { ProvisionDeps } from "../../jobs/provision/index.ts";
import { createProductionJobs, type ProductionJobDeps } from "../../jobs/registry.ts";
import { createSessionHandover } from "../../remote/handover.ts";
import { ensureStandInBundle } from "../../sim/bundle/stand-in.ts";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../sim/index.ts";
import type { RunningWorker } from "../../worker/start.ts";
import { type Runtime, startRuntime } from "../runner/harness.ts";

/** 1/100 of Hetzner's timings: create 750 ms, start 20 ms, boot 100 ms (plus the real first-boot commands). */
const TIME_SCALE = 0.01;
/** The simulator deletes in 5 s × TIME_SCALE, plus the real teardown of its fake machine (sandbox, sshd). */
const EXPECTED_DELETION_MS = 1_000;

export interface CallbackEndpoint {
  readonly baseUrl: string;
  /** When set, the callback reports this host key instead of the one the machine's phone_home sent. */
  reportHostKey: string | undefined;
  /** Bundle bytes the public listener sent to machines (the bodies of its bundle downloads), for benchmarks. */
  readonly bundleBytesServed: number;
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
  /** The servers and SSH keys at Hetzner under the instance's name (both empty once it is torn down). */
  leftAtHetzner(instanceId: string): Promise<{ servers: Server[]; sshKeys: SshKey[] }>;
  /** Hetzner API requests the simulator served since the last `sim.clearRequests()`. */
  requestCount(): number;
  dispose(): Promise<void>;
}

export interface WorldOverrides extends Partial<Omit<ProductionJobDeps, "settings">> {
  settings?: Partial<ProvisionDeps["settings"]>;
}

/** A Hetzner project on the simulator as the steps see it: "default", nbg1, fsn1, hel1 and cx23 unless told. */
export function simProject(
  client: HetznerClient,
  project: Partial<Omit<HetznerProject, "client">> = {},
): HetznerProject {
  return {
    name: DEFAULT_PROJECT,
    serverLimit: null,
    locations: ["nbg1", "fsn1", "hel1"],
    serverTypes: ["cx23"],
    anyArchitecture: false,
    ...project,
    client,
  };
}

/** `projects`: more Hetzner projects in the simulator beside "default" (one world per token). */
export async function startProvisionWorld(
  simOptions: Pick<SimulatorOptions, "projects"> = {},
): Promise<ProvisionWorld> {
  const runtime = await startRuntime();
  const sim = await startSimulator({ timeScale: TIME_SCALE, ...simOptions });
  await ensureStandInBundle(bundleStoreDir(runtime.config.dataDir), "x64");
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
        projects: hetznerProjects([simProject(hetzner)]),
        customers,
        sealer,
        sessions: createSessionHandover(),
        expectedServerDeletionMs: EXPECTED_DELETION_MS,
        ...overrides,
        settings: {
          publicBaseUrl: callback.endpoint.baseUrl,
          controlPlaneIps: ["127.0.0.1/32"],
          serverImage: "ubuntu-24.04",
          sshPort: sim.sshPort,
          cloudInitTimeoutMs: 60_000,
          verifySettleMs: 300,
          hcloudLabels: {},
          dataDir: runtime.config.dataDir,
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
    async leftAtHetzner(instanceId) {
      const name = `rachel-${instanceId}`;
      return {
        servers: await hetzner.servers.listAll({ name }),
        sshKeys: await hetzner.sshKeys.listAll({ name }),
      };
    },
    requestCount: () => sim.requests().length,
    async dispose() {
      await runtime.dispose();
      await callback.stop();
      await sim.stop();
    },
  };
}

/** Serves the API's public routes on loopback, passing each peer's address through as the API would see it. */
function startCallbackEndpoint(runtime: Runtime) {
  const api = createApiServer({
    config: runtime.config,
    db: runtime.db,
    queue: runtime.queue,
    log: createLogger({ level: "silent" }),
    metrics: createMetrics(),
    port: 0,
    publicPort: 0,
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request, self) {
      const peer = self.requestIP(request)?.address ?? null;
      if (endpoint.reportHostKey === undefined || request.method !== "POST") {
        const response = await api.handle(request, { listener: "public", peer });
        if (request.method === "GET" && /\/bundles\//.test(new URL(request.url).pathname)) {
          bundleBytesServed += Number(response.headers.get("content-length") ?? 0);
        }
        return response;
      }
      const form = new URLSearchParams(await request.text());
      form.set("pub_key_ed25519", endpoint.reportHostKey);
      return api.handle(
        new Request(request.url, { method: request.method, headers: request.headers, body: form }),
        { listener: "public", peer },
      );
    },
  });
  let bundleBytesServed = 0;
  const endpoint: CallbackEndpoint = {
    baseUrl: `http://127.0.0.1:${server.port}`,
    reportHostKey: undefined,
    get bundleBytesServed() {
      return bundleBytesServed;
    },
  };
  return {
    endpoint,
    stop: async () => {
      await server.stop(true);
      await api.stop(0);
    },
  };
}

/**
 * One world for the calling file's tests: started before the first, disposed after the last; after each
 * test the workers it started are stopped, faults cleared and the host-key override dropped.
 */
export function provisionWorldForFile(simOptions: Pick<SimulatorOptions, "projects"> = {}): {
  readonly current: ProvisionWorld;
} {
  let world: ProvisionWorld | undefined;
  const workers: RunningWorker[] = [];
  beforeAll(async () => {
    const started = await startProvisionWorld(simOptions);
    const startWorker = started.startWorker;
    started.startWorker = async (overrides) => {
      const worker = await startWorker(overrides);
      workers.push(worker);
      return worker;
    };
    world = started;
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.stop();
    world?.sim.faults.clear();
    if (world) world.callback.reportHostKey = undefined;
  });
  afterAll(async () => {
    await world?.dispose();
  });
  return {
    get current() {
      if (!world) throw new Error("the provision world exists only inside a test");
      return world;
    },
  };
}
