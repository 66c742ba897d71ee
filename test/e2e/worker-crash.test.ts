/**
 * A provision survives its worker being SIGKILLed while it waits for cloud-init: the callback lands with
 * no worker running, and a fresh worker process finishes the job on the same server.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { eq } from "drizzle-orm";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { httpReady, type ServiceProcess, startService } from "../../cli/service-process.ts";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations } from "../../db/schema.ts";
import { type E2eWorld, startE2eWorld } from "./harness.ts";

const repoRoot = resolve(import.meta.dir, "../..");
let world: E2eWorld;
let replacement: ServiceProcess | undefined;

beforeAll(async () => {
  world = await startE2eWorld();
}, 60_000);
afterAll(async () => {
  await replacement?.stop(5000);
  await world?.dispose();
});

test("a worker killed mid-wait: the callback is kept, a new worker finishes with one server", async () => {
  world.customers.upsert("crash-customer", fakeCustomerSecrets("crash"));
  const { instanceId, operationId } = await world.requests.requestProvision("crash-customer");
  const operationStatus = () =>
    world.db.select().from(operations).where(eq(operations.id, operationId)).get()?.status;
  await pollUntil(() => operationStatus() === "parked", {
    timeoutMs: 30_000,
    description: "the provision to park",
  });

  const worker = world.stack.services.get("worker");
  if (!worker) throw new Error("the stack has no worker");
  worker.signal("SIGKILL");
  await worker.exited;
  await pollUntil(
    () => world.db.select().from(instances).where(eq(instances.id, instanceId)).get()?.callbackReceivedAt,
    { timeoutMs: 30_000, description: "the cloud-init callback" },
  );
  expect(operationStatus()).not.toBe("succeeded");

  replacement = startService({
    name: "worker",
    entry: resolve(repoRoot, "worker/main.ts"),
    env: { ...world.env },
    cwd: repoRoot,
    isReady: httpReady(`http://127.0.0.1:${world.config.workerMetricsPort}/metrics`),
    onLine: (text) => world.lines.push({ service: "worker", text }),
  });
  await replacement.waitReady(30_000);
  expect((await world.finish(operationId)).status).toBe("succeeded");
  expect(world.sim.serverCount()).toBe(1);
  expect(world.sim.requests().filter((r) => r.method === "POST" && r.path === "/servers")).toHaveLength(1);
}, 120_000);
