/**
 * `bun run demo [--keep] [--verbose] [--machines stand-in|container]`: the product end to end against the
 * Hetzner simulator, no account needed; `--machines container` boots a real Debian 13 machine per server. Starts simulator, broker, api and worker; registers a customer with fake (but valid) secrets;
 * provisions with live per-step progress and a phase timing table; then deprovisions and shows that
 * nothing is left. `--keep` stops before deprovisioning, prints commands to try next against the running
 * stack (cli/try-next.ts) and runs until Ctrl-C; `--verbose` streams the services' logs. Exits 0 on
 * success, 1 with a message on any failure.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { eq } from "drizzle-orm";
import { bundleStoreDir, createBundleStore } from "../bundle/store.ts";
import { DEV_SECRET_NAMES } from "../core/config.ts";
import { instances } from "../db/schema.ts";
import { createCustomerStore } from "../domain/customers.ts";
import type { OperationSummary } from "../domain/operation-progress.ts";
import { createRequests } from "../domain/requests.ts";
import { createHetznerClient } from "../hetzner/client.ts";
import { RateLimitBudget } from "../hetzner/rate-limit.ts";
import { assertContainerRequirements } from "../sim/container/requirements.ts";
import { rootfsPath } from "../sim/container/rootfs.ts";
import type { MachineKind } from "../sim/index.ts";
import { fakeCustomerSecrets } from "./demo-customer.ts";
import { writeDevSecrets } from "./dev-secrets.ts";
import { followOperation } from "./follow-operation.ts";
import { checkLeftovers } from "./leftovers.ts";
import { formatPhaseTable, formatStepEvent } from "./operation-report.ts";
import {
  COMPRESSED_TIME_SCALE,
  describeTimeScale,
  type SimulatedStack,
  startSimulatedStack,
} from "./simulated-stack.ts";
import { writeSshAccess } from "./ssh-access.ts";
import { formatTryNext, tryNextCommands } from "./try-next.ts";
import { exitOnHelp } from "./usage.ts";

/** Bound of one operation in the demo, in ms. */
const OPERATION_TIMEOUT_MS = 180_000;
/** Service log lines kept to show when something fails. */
const KEPT_LOG_LINES = 40;

class DemoFailure extends Error {
  override readonly name = "DemoFailure";
}

exitOnHelp(
  process.argv.slice(2),
  `usage: bun run demo [--keep] [--verbose] [--machines stand-in|container]
Provisions a demo customer's bot end to end against the Hetzner simulator (no account needed), shows
each step and the phase timings, then deprovisions and shows that nothing is left.
  --keep       stop before deprovisioning and keep everything running until Ctrl-C
  --verbose    also print every service's log lines
  --machines K stand-in (default) or container: a real Debian 13 boot per server (root, systemd-nspawn,
               debootstrap; the first run builds its root filesystem, 1-3 minutes)
  -h, --help   this text`,
);
const { values: flags } = parseArgs({
  options: {
    keep: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    machines: { type: "string", default: "stand-in" },
  },
});
const say = (message: string) => process.stdout.write(`${message}\n`);
const machines = machineKind(flags.machines);
// Ctrl-C at any point stops everything cleanly: the services run in their own process groups and would outlive us.
const interrupted = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => interrupted.abort(new DemoFailure(`interrupted (${signal})`)));
}
const recentLogs: string[] = [];
const dataDir = mkdtempSync(join(tmpdir(), "rachel-demo-"));

const exitCode = await runDemo().catch((err: unknown) => {
  say(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
  if (recentLogs.length > 0) say(`last service log lines:\n${recentLogs.join("\n")}`);
  return 1;
});
rmSync(dataDir, { recursive: true, force: true });
process.exit(exitCode);

async function runDemo(): Promise<number> {
  say(describeTimeScale(COMPRESSED_TIME_SCALE));
  if (machines === "container") describeContainerMachines();
  say(`starting simulator, broker, api and worker (data in ${dataDir}) …`);
  const world = await startSimulatedStack({
    dataDir,
    timeScale: COMPRESSED_TIME_SCALE,
    onLine: keepLogLine,
    machines,
  });
  await showBundles(world);
  // A service that dies mid-demo ends the wait at once with its name instead of a timeout later.
  const serviceDied = new AbortController();
  void world.stack.firstExit.then(({ service, code }) =>
    serviceDied.abort(new DemoFailure(`${service} exited with code ${code}`)),
  );
  const stopWaiting = AbortSignal.any([serviceDied.signal, interrupted.signal]);
  try {
    const customerId = `demo-${randomBytes(4).toString("hex")}`;
    const customers = createCustomerStore({ db: world.db, sealer: world.sealer });
    const requests = createRequests({ db: world.db, queue: world.queue });
    customers.upsert(customerId, fakeCustomerSecrets());
    say(`customer ${customerId} registered (fake Telegram and Claude secrets, sealed at rest)`);

    const provision = await requests.requestProvision(customerId);
    say(`\nprovision requested: instance ${provision.instanceId}`);
    const provisioned = await follow(world, provision.operationId, stopWaiting);
    say(`\n${formatPhaseTable("provision phases", provisioned)}`);
    showInstance(world, provision.instanceId);

    if (flags.keep) return await keepRunning(world, customerId, provision.instanceId, serviceDied.signal);

    const deprovision = await requests.requestDeprovision(customerId);
    if (!deprovision) throw new DemoFailure(`no live instance to deprovision for ${customerId}`);
    say("\ndeprovision requested");
    const deprovisioned = await follow(world, deprovision.operationId, stopWaiting);
    say(`\n${formatPhaseTable("deprovision phases", deprovisioned)}`);
    await showNothingLeft(world, customerId, provision.instanceId);
    say("\ndemo complete");
    return 0;
  } finally {
    await world.stop();
  }
}

async function follow(
  world: SimulatedStack,
  operationId: string,
  signal: AbortSignal,
): Promise<OperationSummary> {
  const summary = await followOperation(world.db, operationId, {
    timeoutMs: OPERATION_TIMEOUT_MS,
    onStep: (row) => say(formatStepEvent(row)),
    signal,
  });
  if (summary.status !== "succeeded") {
    say(formatPhaseTable("phases so far", summary));
    throw new DemoFailure(
      `${operationId} failed at ${summary.errorStep ?? "?"}: ${summary.errorMessage ?? ""}`,
    );
  }
  return summary;
}

function showInstance(world: SimulatedStack, instanceId: string): void {
  const instance = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
  if (!instance) throw new DemoFailure(`instance ${instanceId} is missing from the database`);
  say(
    `\ninstance ${instance.id}: ${instance.status}, server ${instance.serverName} (#${instance.hetznerServerId}) ` +
      `at ${instance.ipv4} in ${instance.location}, booted bundle ${instance.bundleId?.slice(0, 12) ?? "(none)"}`,
  );
}

/** The bundle new servers boot: the stand-in app, built from a local git repository before the services start. */
async function showBundles(world: SimulatedStack): Promise<void> {
  const store = createBundleStore(bundleStoreDir(world.config.dataDir));
  for (const [architecture, id] of Object.entries(await store.current())) {
    const manifest = id === undefined ? null : await store.get(id);
    if (manifest === null) continue;
    say(
      `app bundle ${manifest.id.slice(0, 12)} for ${architecture}: stand-in app ${manifest.appCommit.slice(0, 8)}, ` +
        `Bun ${manifest.bunVersion}, Claude Code ${manifest.claudeCodeVersion}, ${(manifest.sizeBytes / 1024).toFixed(1)} KB ` +
        "(each server fetches it from the control plane)",
    );
  }
}

async function showNothingLeft(world: SimulatedStack, customerId: string, instanceId: string): Promise<void> {
  const hetzner = createHetznerClient({
    endpoint: world.sim.endpoint,
    token: world.sim.token,
    budget: new RateLimitBudget(),
  });
  const checks = await checkLeftovers({ db: world.db, hetzner, customerId, instanceId });
  say("\nwhat is left");
  for (const check of checks) say(`  ${check.ok ? "✓" : "✗"} ${check.what}: ${check.found}`);
  const failed = checks.filter((check) => !check.ok);
  if (failed.length > 0)
    throw new DemoFailure(`left behind: ${failed.map((check) => check.what).join(", ")}`);
}

/**
 * --keep: everything stays up for exploring until Ctrl-C (or a service dies), then stops cleanly. The
 * secrets and the instance's SSH key go into the data directory (0600) for the printed commands to use.
 */
async function keepRunning(
  world: SimulatedStack,
  customerId: string,
  instanceId: string,
  serviceDied: AbortSignal,
): Promise<number> {
  const secrets = Object.fromEntries(DEV_SECRET_NAMES.map((name) => [name, world.env[name] ?? ""]));
  const envFile = writeDevSecrets(world.dataDir, secrets, "bun run demo --keep");
  const ssh = writeSshAccess({
    db: world.db,
    sealer: world.sealer,
    instanceId,
    sshPort: world.config.sshPort,
    dir: join(world.dataDir, "ssh"),
    // A container machine's address lives in the simulator's lab, not on this host.
    ...(world.sim.lab ? { via: world.sim.lab.command([]) } : {}),
  });
  say(`\nkept running:`);
  say(`  private api  ${world.stack.apiUrls.private} (customers, ops)`);
  say(`  public api   ${world.stack.apiUrls.public} (webhooks, cloud-init callback)`);
  say(`  simulator    ${world.sim.endpoint} (token ${world.sim.token})`);
  say(`  instance     ${instanceId} of customer ${customerId}`);
  say(`  data         ${world.dataDir} (secrets in ${envFile}; all removed on exit)`);
  const target = {
    apiUrls: world.stack.apiUrls,
    dataDir: world.dataDir,
    envFile,
    simBaseUrl: world.sim.baseUrl,
    instance: { id: instanceId, customerId, ssh },
    newCustomer: { id: `demo-${randomBytes(4).toString("hex")}`, secrets: fakeCustomerSecrets() },
  };
  say(`\n${formatTryNext(target, tryNextCommands(target))}`);
  say("Ctrl-C stops everything and removes the data directory.");
  const stopped = AbortSignal.any([interrupted.signal, serviceDied]);
  if (!stopped.aborted)
    await new Promise((resolve) => stopped.addEventListener("abort", resolve, { once: true }));
  say("stopping …");
  if (serviceDied.aborted) throw serviceDied.reason;
  return 0;
}

function keepLogLine(service: string, line: string): void {
  const tagged = `[${service}] ${line}`;
  if (flags.verbose) say(tagged);
  recentLogs.push(tagged);
  if (recentLogs.length > KEPT_LOG_LINES) recentLogs.shift();
}

function machineKind(flag: string | undefined): MachineKind {
  if (flag === "stand-in" || flag === "container") return flag;
  process.stderr.write(`demo: --machines: '${flag}' is not one of stand-in, container\n`);
  process.exit(2);
}

/** What real machines need, checked before anything starts. */
function describeContainerMachines(): void {
  // Names every missing piece (root, systemd-nspawn, debootstrap…) and what the first build costs.
  assertContainerRequirements();
  const root = rootfsPath();
  say(
    existsSync(root)
      ? `real machines: Debian 13 containers booted by systemd-nspawn from ${root}`
      : "real machines: the Debian 13 root filesystem is built first with debootstrap (once; 1-3 minutes on a quiet machine, 390 MB " +
          "in /var/cache/rachel-sim), then each server boots a container under systemd-nspawn",
  );
}
