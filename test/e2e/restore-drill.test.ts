/**
 * The restore drill: a snapshot taken while webhooks and provisions are in flight, the disk lost, the snapshot
 * restored into an empty DATA_DIR and the services started on it against the same Hetzner (the simulator kept
 * running). Everything acknowledged before the snapshot is there, the providers' redeliveries fill in what
 * came after, no customer loses their server, and the sweeps repair the drift at Hetzner.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { restoreSnapshot } from "../../backup/restore.ts";
import { takeSnapshot } from "../../backup/snapshot.ts";
import { bundleStoreDir } from "../../bundle/store.ts";
import { type LocalStack, startLocalStack } from "../../cli/local-stack.ts";
import { pollUntil } from "../../core/wait.ts";
import { appDatabasePath, type Db, openDatabase } from "../../db/index.ts";
import { instances, paymentEvents } from "../../db/schema.ts";
import { customerSecrets } from "../../harness/customers/fixtures.ts";
import {
  type Delivery,
  newWebhookSecret,
  signStandard,
  standardPayload,
} from "../../harness/webhooks/world.ts";
import { createHetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { type E2eWorld, startE2eWorld } from "./harness.ts";

setDefaultTimeout(240_000);

const secret = newWebhookSecret();
let world: E2eWorld;
let restoredStack: LocalStack | undefined;
let restoredDb: Db | undefined;
const backupDir = mkdtempSync(join(tmpdir(), "restore-drill-backups-"));

beforeAll(async () => {
  // Zombies are judged at once: the drill's servers are seconds old.
  world = await startE2eWorld(0.05, { STANDARD_WEBHOOK_SECRET: secret, RECONCILE_ZOMBIE_GRACE_MS: "0" });
});
afterAll(async () => {
  await restoredStack?.stop();
  restoredDb?.$client.close();
  await world.sim.stop();
  rmSync(world.dataDir, { recursive: true, force: true });
  rmSync(backupDir, { recursive: true, force: true });
});

async function deliver(delivery: Delivery): Promise<number> {
  const response = await fetch(`${world.publicApiUrl}/v1/webhooks/standard`, {
    method: "POST",
    headers: { "content-type": "application/json", ...delivery.headers },
    body: delivery.body,
  });
  await response.arrayBuffer();
  return response.status;
}

const paid = (customer: string) =>
  signStandard(standardPayload({ customerId: customer, subscriptionId: `sub_${customer}` }), [secret]);
const cancelled = (customer: string) =>
  signStandard(
    standardPayload({
      type: "subscription.canceled",
      customerId: customer,
      subscriptionId: `sub_${customer}`,
    }),
    [secret],
  );

function instanceOf(db: Db, customerId: string) {
  return db.select().from(instances).where(eq(instances.customerId, customerId)).all();
}

async function ourServers() {
  const hetzner = createHetznerClient({
    endpoint: world.sim.endpoint,
    token: world.sim.token,
    budget: new RateLimitBudget(),
  });
  const servers = await hetzner.servers.listAll({ labelSelector: "managed-by=rachel-provisioner" });
  return servers.filter((server) => server.status !== "deleting");
}

async function waitReady(db: Db, customerId: string): Promise<string> {
  return pollUntil(
    () => {
      const [row] = instanceOf(db, customerId).filter((i) => i.status === "ready");
      return row?.id;
    },
    { timeoutMs: 90_000, intervalMs: 100, description: `customer ${customerId} ready` },
  );
}

/** The customer's instance id once its server is created (its id saved). */
function serverCreated(customerId: string): Promise<string> {
  return pollUntil(
    () => {
      const [row] = instanceOf(world.db, customerId);
      return row?.hetznerServerId ? row.id : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 50, description: `${customerId}'s server created` },
  );
}

async function reconcile(body: Record<string, boolean>) {
  const response = await fetch(`${world.apiUrl}/v1/ops/reconcile`, {
    method: "POST",
    headers: { authorization: `Bearer ${world.env.OPS_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    decisions: { kind: string; outcome: string; instanceId?: string | null }[];
  };
}

/** How late every server's phone_home comes (ms): long enough for the loss and restore to happen meanwhile. */
const LATE_PHONE_HOME_MS = 25_000;
const restoredLines: string[] = [];

test("a restore keeps everything acknowledged before the snapshot; redeliveries and sweeps bring the rest", async () => {
  for (const customer of ["drill-a", "drill-b", "drill-c"]) {
    world.customers.upsert(customer, customerSecrets(customer));
  }
  // Before the snapshot: A is served; B's server is created and its callback still to come.
  const aPaid = paid("drill-a");
  expect(await deliver(aPaid)).toBe(200);
  const aInstance = await waitReady(world.db, "drill-a");
  world.sim.faults.add({ kind: "phone_home_late", delayMs: LATE_PHONE_HOME_MS });
  const bPaid = paid("drill-b");
  expect(await deliver(bPaid)).toBe(200);
  const bInstance = await serverCreated("drill-b");
  const snapshot = takeSnapshot({ dataDir: world.dataDir, backupDir });

  // After it, acknowledged but not in the snapshot: C pays (its server is created), A cancels (its server goes).
  const cPaid = paid("drill-c");
  const aCancelled = cancelled("drill-a");
  expect(await deliver(cPaid)).toBe(200);
  expect(await deliver(aCancelled)).toBe(200);
  const cLostInstance = await serverCreated("drill-c");
  await pollUntil(() => instanceOf(world.db, "drill-a")[0]?.status === "deprovisioned" || undefined, {
    timeoutMs: 60_000,
    description: "A deprovisioned",
  });
  expect((await ourServers()).map((s) => s.labels.instance).sort()).toEqual(
    [bInstance, cLostInstance].sort(),
  );

  // The disk is lost: services gone, DATA_DIR emptied; Hetzner (the simulator) carries on.
  await world.stack.stop();
  await world.queue.close();
  world.db.$client.close();
  // Bundles are not in the snapshot: the operator rebuilds them (same inputs, same id; docs/deploy.md).
  // The drill keeps the very bytes, as a reproducible rebuild would give them back.
  const bundles = join(backupDir, "bundles-rebuilt");
  renameSync(bundleStoreDir(world.dataDir), bundles);
  for (const entry of readdirSync(world.dataDir)) rmSync(join(world.dataDir, entry), { recursive: true });
  const restored = restoreSnapshot({ snapshotDir: snapshot.dir, dataDir: world.dataDir });
  expect(restored.manifest.takenAt).toBe(snapshot.manifest.takenAt);
  renameSync(bundles, bundleStoreDir(world.dataDir));
  restoredStack = await startLocalStack({
    env: { ...world.env },
    config: world.config,
    onLine: (service, line) => restoredLines.push(`${service}: ${line}`),
  });
  const db = openDatabase(appDatabasePath(world.dataDir));
  restoredDb = db;

  // Acknowledged before the snapshot: A ready on its server, B's provision, and both events.
  expect(instanceOf(db, "drill-a").map((i) => [i.id, i.status])).toEqual([[aInstance, "ready"]]);
  expect(instanceOf(db, "drill-b").map((i) => i.id)).toEqual([bInstance]);
  const events = db
    .select({ id: paymentEvents.eventId })
    .from(paymentEvents)
    .all()
    .map((e) => e.id);
  expect(events).toEqual(expect.arrayContaining([aPaid.headers["webhook-id"], bPaid.headers["webhook-id"]]));
  expect(instanceOf(db, "drill-c")).toEqual([]);

  // B's provision resumes from the database (its job re-created when the queue snapshot lacks it) and its
  // late callback finds the restored API: B is ready on the server it had before the loss.
  const first = await reconcile({});
  expect(first.decisions.filter((d) => d.outcome === "applied" && d.kind.startsWith("delete"))).toEqual([]);
  const bServer = instanceOf(db, "drill-b")[0]?.hetznerServerId;
  try {
    await waitReady(db, "drill-b");
  } catch (err) {
    throw new Error(
      `${err}\n${restoredLines
        .filter((l) => l.includes(bInstance))
        .slice(-30)
        .join("\n")}`,
    );
  }
  world.sim.faults.clear();
  expect(instanceOf(db, "drill-b")[0]?.hetznerServerId).toBe(bServer ?? -1);

  // The providers redeliver what came after the snapshot.
  expect(await deliver(cPaid)).toBe(200);
  expect(await deliver(aCancelled)).toBe(200);
  const cInstance = await waitReady(db, "drill-c");
  await pollUntil(() => instanceOf(db, "drill-a")[0]?.status === "deprovisioned" || undefined, {
    timeoutMs: 60_000,
    description: "A deprovisioned again after the restore",
  });

  // C's server from before the loss belongs to an instance the restored database never knew: held, not deleted.
  const held = await reconcile({});
  expect(held.decisions).toEqual([
    expect.objectContaining({ kind: "delete-zombie-server", instanceId: cLostInstance, outcome: "held" }),
  ]);
  expect((await ourServers()).map((s) => s.labels.instance).sort()).toEqual(
    [bInstance, cInstance, cLostInstance].sort(),
  );

  // The operator releases the hold: the drift is repaired, and a further sweep finds nothing.
  const applied = await reconcile({ apply: true });
  expect(applied.decisions).toEqual([
    expect.objectContaining({ kind: "delete-zombie-server", instanceId: cLostInstance, outcome: "applied" }),
  ]);
  await pollUntil(async () => ((await ourServers()).length === 2 ? true : undefined), {
    timeoutMs: 30_000,
    description: "C's old server deleted",
  });
  expect((await ourServers()).map((s) => s.labels.instance).sort()).toEqual([bInstance, cInstance].sort());
  expect((await reconcile({})).decisions).toEqual([]);
});
