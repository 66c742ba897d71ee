/**
 * Provision and deprovision through real processes: duplicate requests make one server, the customer's
 * secrets appear nowhere but sealed in the app database (and on the machine), and a deprovision leaves
 * nothing at Hetzner nor anything decryptable. The tests share one world and run in order.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Queue } from "bunqueue/client";
import { eq } from "drizzle-orm";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { checkLeftovers } from "../../cli/leftovers.ts";
import { customers, instances, operations } from "../../db/schema.ts";
import { CustomerSecretsGoneError } from "../../domain/customers.ts";
import { createHetznerClient } from "../../hetzner/client.ts";
import { RateLimitBudget } from "../../hetzner/rate-limit.ts";
import { operationsQueueName } from "../../queue/payload.ts";
import type { MachineView } from "../../sim/index.ts";
import { type E2eWorld, startE2eWorld } from "./harness.ts";

let world: E2eWorld;
const customerId = "e2e-customer";
// Embedded in every fake secret: finding it anywhere means a secret (or part of one) leaked.
const marker = `leak${randomBytes(6).toString("hex")}`;
let instanceId = "";
let userData: string[] = [];

beforeAll(async () => {
  world = await startE2eWorld();
  world.customers.upsert(customerId, fakeCustomerSecrets(marker));
}, 60_000);
afterAll(() => world?.dispose());

test("five concurrent provision requests and one after ready make one instance and one server", async () => {
  const requests = await Promise.all(
    Array.from({ length: 5 }, () => world.requests.requestProvision(customerId)),
  );
  const first = requests[0];
  if (!first) throw new Error("no request answered");
  instanceId = first.instanceId;
  expect(new Set(requests.map((r) => r.instanceId))).toEqual(new Set([instanceId]));
  expect(new Set(requests.map((r) => r.operationId))).toEqual(new Set([first.operationId]));
  expect(requests.filter((r) => r.created)).toHaveLength(1);
  expect((await world.finish(first.operationId)).status).toBe("succeeded");

  const again = await world.requests.requestProvision(customerId);
  expect(again.instanceId).toBe(instanceId);
  expect((await world.finish(again.operationId)).status).toBe("succeeded");
  expect(world.sim.serverCount()).toBe(1);
  expect(world.sim.requests().filter((r) => r.method === "POST" && r.path === "/servers")).toHaveLength(1);
  const machines = (await (await fetch(`${world.sim.baseUrl}/_sim/machines`)).json()) as MachineView[];
  userData = machines.map((machine) => machine.userData ?? "");
}, 90_000);

test("no secret is in any log line, the user_data, a job payload or the raw bytes of any data file", async () => {
  const instance = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
  const sealedKey = instance?.sshPrivateKey;
  if (!sealedKey) throw new Error("the instance has no sealed SSH key");
  // Two stretches near the end of the key's base64 body: its private half (the start is the same in every key).
  const privateKey = world.sealer.open(sealedKey, `instance:${instanceId}:sshPrivateKey`);
  const keyBody = privateKey.replace(/-----[A-Z ]+-----/g, "").replaceAll("\n", "");
  const needles = [marker, keyBody.slice(-200, -160), keyBody.slice(-100, -60)];

  const haystacks: Record<string, string> = {
    logs: world.lines.map((line) => line.text).join("\n"),
    userData: userData.join("\n"),
    payloads: await jobPayloads(),
    ...dataFiles(world.dataDir),
  };
  expect(userData.join("")).toContain("phone_home");
  expect(Object.keys(haystacks)).toEqual(expect.arrayContaining(["app.sqlite", "queue.sqlite"]));
  for (const [where, text] of Object.entries(haystacks)) {
    for (const needle of needles)
      expect({ where, leaked: text.includes(needle) }).toEqual({ where, leaked: false });
  }
  const customer = world.db.select().from(customers).where(eq(customers.id, customerId)).get();
  expect(customer?.telegramBotToken).toEqual(expect.any(String));
});

test("deprovision leaves no server or key at Hetzner and nothing decryptable; a second one changes nothing", async () => {
  const deprovision = await world.requests.requestDeprovision(customerId);
  if (!deprovision) throw new Error("no live instance to deprovision");
  expect((await world.finish(deprovision.operationId)).status).toBe("succeeded");
  const hetzner = createHetznerClient({
    endpoint: world.sim.endpoint,
    token: world.sim.token,
    budget: new RateLimitBudget(),
  });
  const checks = await checkLeftovers({ db: world.db, hetzner, customerId, instanceId });
  expect(checks.filter((check) => !check.ok)).toEqual([]);
  expect(() => world.customers.open(customerId)).toThrow(CustomerSecretsGoneError);

  const second = await world.requests.requestDeprovision(customerId);
  if (second) expect((await world.finish(second.operationId)).status).toBe("succeeded");
  expect(await checkLeftovers({ db: world.db, hetzner, customerId, instanceId })).toEqual(checks);
}, 60_000);

/** Every job's data as the broker holds it, for every operation the app database knows. */
async function jobPayloads(): Promise<string> {
  const queue = new Queue(operationsQueueName, {
    connection: { host: "127.0.0.1", port: world.config.brokerPort, token: world.config.brokerToken },
  });
  try {
    const ids = world.db.select({ id: operations.id }).from(operations).all();
    const jobs = await Promise.all(ids.map(({ id }) => queue.getJob(id)));
    const found = jobs.filter((job) => job !== null);
    expect(found.length).toBeGreaterThan(0);
    return JSON.stringify(found.map((job) => job.data));
  } finally {
    await queue.close();
  }
}

/** Raw bytes (as latin1, so any ASCII secret shows) of every file under DATA_DIR, by file name. */
function dataFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      files[entry.name] = readFileSync(join(entry.parentPath, entry.name)).toString("latin1");
  }
  return files;
}
