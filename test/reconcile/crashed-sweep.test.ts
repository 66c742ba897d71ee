/**
 * A worker killed in the middle of a sweep (CRASH_AT) no longer blocks sweeping: the sweep's lease lapses
 * within one lease period, its redelivery resumes it rather than parking behind its own row, and an
 * operator's sweep asked for meanwhile still answers with its result.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { appDatabasePath, openDatabase } from "../../db/index.ts";
import { sweeps } from "../../db/schema.ts";
import { startMachinelessSimulator } from "../../harness/reconcile/machineless-sim.ts";
import { createTestStack, type TestStack } from "../../harness/support/processes.ts";
import type { SweepRecord } from "../../jobs/reconcile/sweep-record.ts";
import type { Simulator } from "../../sim/index.ts";

setDefaultTimeout(90_000);

const OPS_TOKEN = "ops-token-for-the-crashed-sweep-test-0123456789";
const LEASE_TTL_MS = 3_000;
let sim: Simulator;
let stack: TestStack;

beforeAll(async () => {
  sim = await startMachinelessSimulator({ timeScale: 0 });
  stack = await createTestStack({
    workerEntry: "worker/main.ts",
    env: {
      HCLOUD_ENDPOINT: sim.endpoint,
      HCLOUD_TOKEN: sim.token,
      OPS_TOKEN,
      // Scheduled sweeps stay out of the way: only the operator's sweeps run.
      RECONCILE_INTERVAL_MS: "86400000",
      JOB_LOCK_MS: "3000",
      LEASE_TTL_MS: String(LEASE_TTL_MS),
      HEARTBEAT_MS: "500",
      LOG_LEVEL: "info",
    },
  });
  await stack.start("broker");
  await stack.start("api");
});

afterAll(async () => {
  await stack.dispose();
  await sim.stop();
});

/** POST /v1/ops/reconcile, awaiting the sweep up to `waitSeconds`. */
function askForSweep(waitSeconds: number): Promise<Response> {
  return fetch(`${stack.apiUrl}/v1/ops/reconcile`, {
    method: "POST",
    headers: { Authorization: `Bearer ${OPS_TOKEN}`, Prefer: `wait=${waitSeconds}` },
  });
}

test("a sweep whose worker died mid-sweep is resumed by its redelivery; the next sweep is not blocked", async () => {
  const crashing = stack.spawn("worker", { CRASH_AT: "sweep.claimed" });
  const first = await askForSweep(1);
  expect(first.status).toBe(202);
  expect(await crashing.exited).toBe(137);
  expect(stack.logs("worker").some((line) => line.json?.point === "sweep.claimed")).toBe(true);

  const db = openDatabase(appDatabasePath(stack.dataDir));
  const [dead] = db.select().from(sweeps).where(eq(sweeps.status, "running")).all();
  expect(dead?.trigger).toBe("operator");

  await stack.start("worker");
  // Resumed, not parked behind its own row: within one lease period plus the broker's redelivery.
  const resumed = await pollUntil(
    () =>
      db
        .select()
        .from(sweeps)
        .where(eq(sweeps.id, dead?.id ?? ""))
        .get()?.status === "succeeded",
    { timeoutMs: LEASE_TTL_MS + 8_000, description: `sweep ${dead?.id} to be resumed and finish` },
  );
  expect(resumed).toBe(true);

  const second = await askForSweep(8);
  expect(second.status).toBe(200);
  expect((await second.json()) as SweepRecord).toMatchObject({ status: "succeeded" });
  db.$client.close();
});
