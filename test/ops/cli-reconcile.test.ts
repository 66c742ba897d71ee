/**
 * `bun run ops reconcile` against the whole service on the simulator (broker, API and a worker that runs
 * sweeps): the dry run shows a zombie and changes nothing, the real sweep deletes it, --json is the record.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SimulatedStack, startSimulatedStack } from "../../cli/simulated-stack.ts";
import { createHetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { runOps } from "./run-ops.ts";

const dataDir = mkdtempSync(join(tmpdir(), "ops-reconcile-"));
let world: SimulatedStack;
beforeAll(async () => {
  world = await startSimulatedStack({
    dataDir,
    timeScale: 0.01,
    env: { RECONCILE_ZOMBIE_GRACE_MS: "0" },
    onLine: () => undefined,
  });
}, 60_000);
afterAll(async () => {
  await world.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const asOperator = (...args: string[]) =>
  runOps(args, { OPS_API_URL: world.apiUrl, OPS_TOKEN: world.env.OPS_TOKEN ?? "" });

test("ops reconcile --dry-run shows the zombie and leaves it; ops reconcile deletes it; --json is the sweep record", async () => {
  const hetzner = createHetznerClient({
    endpoint: world.sim.endpoint,
    token: world.sim.token,
    budget: new RateLimitBudget(),
  });
  const zombie = await hetzner.servers.create({
    name: "rachel-inobodyowns",
    serverType: "cx23",
    image: "ubuntu-24.04",
    location: "fsn1",
    labels: { "managed-by": "rachel-provisioner", instance: "inobodyowns" },
  });
  await hetzner.actions.waitFor([zombie.action.id, ...zombie.nextActions.map((action) => action.id)]);

  const dry = await asOperator("reconcile", "--dry-run");
  expect(dry).toMatchObject({ exitCode: 0, stderr: "" });
  expect(dry.stdout).toMatch(
    /^dry run \(nothing changed\) operator-\S+: succeeded, 1 server seen, 1 Hetzner request\n/,
  );
  expect(dry.stdout).toMatch(/delete-zombie-server +planned +server rachel-inobodyowns/);
  expect(await hetzner.servers.get(zombie.server.id)).not.toBeNull();

  const applied = await asOperator("reconcile", "--json");
  expect(applied.exitCode).toBe(0);
  const record = JSON.parse(applied.stdout) as {
    dryRun: boolean;
    status: string;
    decisions: { outcome: string }[];
  };
  expect(record).toMatchObject({ dryRun: false, status: "succeeded", decisions: [{ outcome: "applied" }] });

  const status = await asOperator("status");
  expect(status.stdout).toMatch(
    /last sweep +operator-\S+: operator sweep succeeded at \S+, 1 server seen, \d+ Hetzner requests?, 1 decision\n/,
  );
  expect(status.stdout).toContain(
    "\n  off-box copy  none\nwarning: no off-box backup target: set BACKUP_S3_*",
  );
}, 60_000);
