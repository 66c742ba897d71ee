/**
 * Backup and restore at 10,000 instances: the time and size of one online snapshot (with the broker running),
 * and restore-to-converged: from `ops restore` on an empty DATA_DIR, through the broker starting on the
 * restored queue, to the first sweep that finds nothing to do, with 100 instances reprovisioned at Hetzner
 * after the snapshot (the first sweep adopts their new servers). `bun run bench backup`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restoreSnapshot } from "../backup/restore.ts";
import { takeSnapshot } from "../backup/snapshot.ts";
import { createLogger } from "../core/log.ts";
import { createMetrics } from "../core/metrics.ts";
import { createSealer } from "../core/secrets.ts";
import { pollUntil } from "../core/wait.ts";
import { customers, instances, stepRuns, subscriptions } from "../db/schema.ts";
import { ownershipLabels, resourceNameFor } from "../domain/ownership.ts";
import { createRequests } from "../domain/requests.ts";
import { startFleet } from "../harness/reconcile/fleet.ts";
import { EAGER_POLICY, simHetznerFor } from "../harness/reconcile/sweep-world.ts";
import { startRuntime } from "../harness/runner/harness.ts";
import { createHetznerClient, RateLimitBudget } from "../hetzner/index.ts";
import { connectSweepBroker } from "../jobs/reconcile/broker.ts";
import { runSweep, type SweepDeps } from "../jobs/reconcile/sweep.ts";
import { createSweepMetrics } from "../jobs/reconcile/sweep-metrics.ts";
import { brokerConnection } from "../queue/queue.ts";
import { figure, printFigures } from "./support/figures.ts";

const fleetSize = 10_000;
const movedAfterSnapshot = 100;
/** Steps a finished provision records (one attempt each). */
const STEPS = ["ssh-key", "create-server", "wait-running", "cloud-init", "inject", "start", "verify"];
/** One snapshot of 10,000 instances, in ms: it runs hourly and holds a read transaction meanwhile. */
const snapshotTargetMs = 5000;
/** Restore-to-converged at 10,000 instances, in ms: the box is down until it is done. */
const convergedTargetMs = 60_000;

/** What a real fleet's database also holds: each customer's sealed secrets, subscription and step history. */
function seedHistory(fleet: Awaited<ReturnType<typeof startFleet>>): void {
  const db = fleet.runtime.db;
  const sealer = createSealer(fleet.runtime.config.secretsKeys);
  const now = Date.now();
  const rows = db.select({ id: instances.id, customerId: instances.customerId }).from(instances).all();
  db.transaction((tx) => {
    for (const { id, customerId } of rows) {
      if (customerId === null) continue;
      tx.insert(customers)
        .values({
          id: customerId,
          telegramBotToken: sealer.seal(
            `1234567890:${"A".repeat(35)}`,
            `customer:${customerId}:telegramBotToken`,
          ),
          claudeCredentials: sealer.seal(
            JSON.stringify({ accessToken: "x".repeat(100), refreshToken: "y".repeat(100), expiresAt: now }),
            `customer:${customerId}:claudeCredentials`,
          ),
          createdAt: now,
          updatedAt: now,
        })
        .run();
      tx.insert(subscriptions)
        .values({
          provider: "stripe",
          subscriptionId: `sub_${customerId}`,
          customerId,
          paymentState: "paid",
          eventId: `evt_${customerId}`,
          eventOccurredAt: now,
          updatedAt: now,
        })
        .run();
      for (const step of STEPS) {
        tx.insert(stepRuns)
          .values({
            instanceId: id,
            operationId: `provision:${id}:1`,
            run: 1,
            step,
            kind: "run",
            attempt: 1,
            status: "succeeded",
            startedAt: now,
            finishedAt: now,
            durationMs: 1000,
            output: JSON.stringify({ serverId: 1, sshKeyId: 2 }),
          })
          .run();
      }
    }
  });
}

/** Reprovisions `count` instances at Hetzner behind the database's back: old server gone, new one labelled. */
async function moveServers(fleet: Awaited<ReturnType<typeof startFleet>>, count: number): Promise<void> {
  const hetzner = createHetznerClient({
    endpoint: fleet.sim.endpoint,
    token: fleet.sim.token,
    budget: new RateLimitBudget(),
  });
  const moved = fleet.runtime.db.select().from(instances).limit(count).all();
  for (const instance of moved) {
    if (instance.hetznerServerId !== null) await hetzner.servers.delete(instance.hetznerServerId);
  }
  // A new server takes the old one's name only once the old one is gone.
  for (const instance of moved) {
    const oldId = instance.hetznerServerId;
    if (oldId !== null) {
      await pollUntil(async () => (await hetzner.servers.get(oldId)) === null, {
        timeoutMs: 30_000,
        intervalMs: 5,
        description: `server ${oldId} to be deleted`,
      });
    }
    await hetzner.servers.create({
      name: resourceNameFor(instance.id),
      serverType: "cx23",
      image: "ubuntu-24.04",
      labels: ownershipLabels(instance.id),
    });
  }
}

export async function runBackupBench() {
  // Hetzner's own limit (3600 requests an hour) would make building the fleet take hours.
  const unlimited = { capacity: 1_000_000, refillPerSecond: 1_000_000 };
  const fleet = await startFleet({ servers: fleetSize, zombies: 0, rateLimit: unlimited });
  const work = mkdtempSync(join(tmpdir(), "bench-backup-"));
  try {
    seedHistory(fleet);
    const snapshot = takeSnapshot({
      dataDir: fleet.runtime.config.dataDir,
      backupDir: join(work, "backups"),
    });
    const files = snapshot.manifest.files;
    await moveServers(fleet, movedAfterSnapshot);

    const restoreStarted = performance.now();
    const dataDir = join(work, "restored");
    restoreSnapshot({ snapshotDir: snapshot.dir, dataDir });
    const restoreMs = performance.now() - restoreStarted;
    const runtime = await startRuntime({ collectLogs: false, dataDir });
    const broker = connectSweepBroker(brokerConnection(runtime.config));
    const deps: SweepDeps = {
      db: runtime.db,
      hetznerFor: simHetznerFor(fleet.sim),
      broker,
      queue: runtime.queue,
      requests: createRequests({ db: runtime.db, queue: runtime.queue }),
      policy: EAGER_POLICY,
      log: createLogger({ level: "silent" }),
      metrics: createSweepMetrics(createMetrics()),
    };
    const sweeps: number[] = [];
    for (let round = 1; round <= 3; round++) {
      const run = await runSweep(deps, {
        id: `bench-restore-${round}`,
        trigger: "schedule",
        dryRun: false,
        requestedAt: Date.now(),
      });
      if (run.kind !== "ran" || run.result.status !== "succeeded")
        throw new Error(`sweep failed: ${JSON.stringify(run)}`);
      sweeps.push(run.result.decisions.length);
      if (run.result.decisions.length === 0) break;
    }
    const convergedMs = performance.now() - restoreStarted;
    await broker.close();
    await runtime.dispose();
    const [adopted = 0] = sweeps;
    return [
      figure(
        `snapshot of ${fleetSize} instances (broker running): time`,
        snapshot.durationMs,
        "ms",
        snapshotTargetMs,
      ),
      figure("snapshot: application database", files["app.sqlite"].bytes / 1e6, "MB"),
      figure("snapshot: queue database", files["queue.sqlite"].bytes / 1e6, "MB"),
      figure("restore into an empty DATA_DIR (copy, check, migrate)", restoreMs, "ms"),
      figure(
        `first sweep after the restore: servers adopted (${movedAfterSnapshot} moved since)`,
        adopted,
        "decisions",
      ),
      figure("sweeps until one finds nothing to do", sweeps.length, "sweeps", 2),
      figure("restore to converged (restore, broker start, sweeps)", convergedMs, "ms", convergedTargetMs),
    ];
  } finally {
    await fleet.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const met = printFigures("backup", await runBackupBench());
  process.exit(met ? 0 : 1);
}
