/**
 * The provision world (simulator with fake machines, real broker, in-process workers) plus the real API
 * route PUT /v1/customers/{id} served on loopback with a service token, and what the reconfigure tests read
 * back: the files on a customer's machine and the step runs of an operation.
 */
import { afterAll, beforeAll } from "bun:test";
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { operations, stepRuns } from "../../db/schema.ts";
import type { CustomerSecrets } from "../../domain/customers.ts";
import { APP_HOME } from "../../domain/ownership.ts";
import { RACHEL8_PATHS } from "../../domain/rachel8.ts";
import { type ProvisionWorld, provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { freePorts } from "../../harness/support/processes.ts";
import { CURRENT_RELEASE } from "../../jobs/provision/cloud-init.ts";
import { connectJobQueue, type JobQueue } from "../../queue/queue.ts";

const SERVICE_TOKEN = "reconfigure-tests-service-token-0123456789";

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

export interface MachineFiles {
  env: string;
  credentials: { accessToken: string; refreshToken: string };
  envMode: number;
  credentialsMode: number;
}

export interface ReconfigureWorld {
  world: ProvisionWorld;
  /** PUT /v1/customers/{id} through the API whose queue reaches the broker. */
  put(customerId: string, body: unknown): Promise<Answer>;
  /** The same request through an API whose queue points at a port where no broker listens. */
  putWithBrokerDown(customerId: string, body: unknown): Promise<Answer>;
  /** A customer with a ready instance: registered, provisioned end to end on a fake machine. */
  provisioned(marker: string): Promise<{ customerId: string; secrets: CustomerSecrets; instanceId: string }>;
  machineFiles(instanceId: string): MachineFiles;
  /** Where the fake machine keeps a file of the app user's home, on this host. */
  homePath(instanceId: string, relative: string): string;
  /** Where the fake machine keeps a file of the release the unit runs, on this host. */
  releasePath(instanceId: string, relative: string): string;
  /** Outputs of the succeeded run attempts of a step in an operation, oldest first. */
  stepOutputs(operationId: string, step: string): unknown[];
  operationIds(instanceId: string): string[];
}

export function reconfigureWorldForFile(): { readonly current: ReconfigureWorld } {
  const fixture = provisionWorldForFile();
  let current: ReconfigureWorld | undefined;
  let apis: ApiServer[] = [];
  let deadQueue: JobQueue | undefined;
  beforeAll(async () => {
    const world = fixture.current;
    const [deadPort = 0] = await freePorts(1);
    deadQueue = connectJobQueue({
      host: "127.0.0.1",
      port: deadPort,
      token: "no-broker-here",
      db: world.runtime.db,
      commandTimeoutMs: 500,
    });
    const serve = (queue: JobQueue) =>
      createApiServer({
        config: { ...world.runtime.config, serviceToken: SERVICE_TOKEN },
        db: world.runtime.db,
        queue,
        log: createLogger({ level: "silent" }),
        metrics: createMetrics(),
        port: 0,
        publicPort: 0,
      });
    apis = [serve(world.runtime.queue), serve(deadQueue)];
    current = buildWorld(world, apis);
  });
  afterAll(async () => {
    for (const api of apis) await api.stop(100);
    await deadQueue?.close();
  });
  return {
    get current() {
      if (!current) throw new Error("the reconfigure world exists only inside a test");
      return current;
    },
  };
}

async function putTo(baseUrl: string, customerId: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${baseUrl}/v1/customers/${customerId}`, {
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${SERVICE_TOKEN}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text || "{}") };
}

function buildWorld(world: ProvisionWorld, apis: ApiServer[]): ReconfigureWorld {
  const [live, dead] = apis;
  if (!live || !dead) throw new Error("both API servers must be running");
  const { db } = world.runtime;
  const homePath = (instanceId: string, relative: string) => {
    const serverId = world.instance(instanceId).hetznerServerId ?? -1;
    const machine = world.sim.machines.get(serverId)?.view();
    if (!machine) throw new Error(`no machine behind instance ${instanceId}`);
    return join(machine.sandboxDir, APP_HOME, relative);
  };
  // `current` links to an absolute path inside the box: resolved against the box's root, not the host's.
  const releasePath = (instanceId: string, relative: string) => {
    const machine = world.sim.machines.get(world.instance(instanceId).hetznerServerId ?? -1)?.view();
    if (!machine) throw new Error(`no machine behind instance ${instanceId}`);
    const release = readlinkSync(join(machine.sandboxDir, CURRENT_RELEASE));
    return join(machine.sandboxDir, release, relative);
  };
  return {
    world,
    put: (customerId, body) => putTo(live.url, customerId, body),
    putWithBrokerDown: (customerId, body) => putTo(dead.url, customerId, body),
    async provisioned(marker) {
      const { customerId, secrets } = world.addCustomer(marker);
      const requested = await world.requests.requestProvision(customerId);
      const summary = await world.finish(requested.operationId);
      if (summary.status !== "succeeded") throw new Error(`provision failed: ${summary.errorMessage}`);
      return { customerId, secrets, instanceId: requested.instanceId };
    },
    homePath,
    releasePath,
    machineFiles(instanceId) {
      const env = homePath(instanceId, RACHEL8_PATHS.env);
      const credentials = homePath(instanceId, RACHEL8_PATHS.credentials);
      return {
        env: readFileSync(env, "utf8"),
        credentials: JSON.parse(readFileSync(credentials, "utf8")).claudeAiOauth,
        envMode: statSync(env).mode & 0o777,
        credentialsMode: statSync(credentials).mode & 0o777,
      };
    },
    stepOutputs(operationId, step) {
      return db
        .select({ output: stepRuns.output })
        .from(stepRuns)
        .where(
          and(
            eq(stepRuns.operationId, operationId),
            eq(stepRuns.step, step),
            eq(stepRuns.kind, "run"),
            eq(stepRuns.status, "succeeded"),
          ),
        )
        .all()
        .map((row) => (row.output === null ? null : JSON.parse(row.output)));
    },
    operationIds(instanceId) {
      return db
        .select({ id: operations.id })
        .from(operations)
        .where(eq(operations.instanceId, instanceId))
        .all()
        .map((row) => row.id);
    },
  };
}
