/**
 * The real-machine lane's first path: one provision to ready on a container machine. Real cloud-init runs
 * our user-data (fetching the bundle from the control plane in the lab), real sshd takes the injection, real
 * systemd runs the unit from the bundle; the assertions are what those programs themselves report.
 * Needs root, debootstrap and systemd-container (.ci/install-tools); in CI it runs, never skips.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { followOperation } from "../../cli/follow-operation.ts";
import { type SimulatedStack, startSimulatedStack } from "../../cli/simulated-stack.ts";
import { instances } from "../../db/schema.ts";
import { createCustomerStore } from "../../jobs/customers.ts";
import { createRequests } from "../../jobs/requests.ts";
import { missingContainerRequirements } from "../../sim/container/requirements.ts";
import { ContainerMachine } from "../../sim/index.ts";

const inCi = process.env.CI === "true";
const missing = missingContainerRequirements();
/** A first root filesystem build (~60-80 s) plus a boot and a provision, on a loaded 2-core machine. */
setDefaultTimeout(10 * 60_000);

describe.skipIf(missing.length > 0 && !inCi)("a provision on a real Debian 13 machine", () => {
  let world: SimulatedStack;
  let dataDir: string;
  let instanceId: string;
  let machine: ContainerMachine;
  let provisionMs: number;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`container machines need: ${missing.join("; ")}`);
    dataDir = mkdtempSync(join(tmpdir(), "rachel-lane-"));
    world = await startSimulatedStack({ dataDir, timeScale: 0.05, machines: "container", onLine: () => {} });
    const customers = createCustomerStore({ db: world.db, sealer: world.sealer });
    customers.upsert("lane-customer", fakeCustomerSecrets("lane"));
    const requests = createRequests({ db: world.db, queue: world.queue });
    const started = performance.now();
    const requested = await requests.requestProvision("lane-customer");
    instanceId = requested.instanceId;
    const summary = await followOperation(world.db, requested.operationId, {
      timeoutMs: 300_000,
      onStep: () => undefined,
    });
    provisionMs = performance.now() - started;
    if (summary.status !== "succeeded") throw new Error(`provision failed: ${summary.errorMessage}`);
    const row = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    const found = world.sim.machines.get(row?.hetznerServerId ?? -1);
    if (!(found instanceof ContainerMachine)) throw new Error("the server is not a container machine");
    machine = found;
  });
  afterAll(async () => {
    await world?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const inside = (script: string) => machine.exec(["sh", "-c", script]);

  test("cloud-init reports our user-data done with no errors, and its own time for it", async () => {
    const status = await inside("cloud-init status --long --format json");
    const report = JSON.parse(status) as { status: string; errors: unknown[]; recoverable_errors: object };
    expect(report.status).toBe("done");
    expect(report.errors).toEqual([]);
    const analyze = await inside(
      "cloud-init analyze show 2>/dev/null | grep -E 'Finished stage|Total Time' || true",
    );
    const log = await inside("grep boot-from-bundle /var/log/cloud-init-output.log");
    console.info(`provision to ready ${(provisionMs / 1000).toFixed(1)} s; cloud-init:\n${analyze.trim()}`);
    expect(log).toMatch(/^boot-from-bundle: release [0-9a-f]{64} at \/opt\/rachel8\/current\n$/);
  });

  test("the unit is active under the real systemd with no restart, running the bundle's app on its .env", async () => {
    const shown = await inside("systemctl show rachel8 -p ActiveState -p NRestarts -p MainPID");
    const props = Object.fromEntries(
      shown
        .trim()
        .split("\n")
        .map((line) => line.split("=", 2)),
    );
    expect(props.ActiveState).toBe("active");
    expect(props.NRestarts).toBe("0");
    const cmdline = await inside(`tr '\\0' ' ' </proc/${props.MainPID}/cmdline`);
    expect(cmdline).toContain("/opt/rachel8/current/bin/bun run /opt/rachel8/current/app/src/index.ts");
    const row = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    expect(await inside("readlink /opt/rachel8/current")).toBe(`/opt/rachel8/releases/${row?.bundleId}\n`);
    // The stand-in app logs what it read from ~/rachel8/.env: the values the injection wrote.
    const journal = await inside("journalctl -u rachel8 -o cat --no-pager");
    expect(journal).toContain(
      "Rachel8 started: Telegram bot polling (NODE_ENV=production, LOG_LEVEL=info, AI_PROVIDER=claudecode)",
    );
  });
});
