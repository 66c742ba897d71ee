/**
 * The real-machine lane: one customer's life on one container machine, in order — provision to ready,
 * files as specified, reconfigure with new secrets, `ops upgrade` to a new bundle, a crash-looping app
 * failing verify, deprovision. Real cloud-init runs our user-data (fetching the bundle from the control
 * plane in the lab), real sshd takes the injection, real systemd runs the unit from the bundle; the
 * assertions are what those programs themselves report. The tests share the stack and the machine (a boot
 * costs seconds), so they run in file order.
 * Needs root, debootstrap and systemd-container (.ci/install-tools); in CI it runs, never skips.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { architectureOfServerType } from "../../bundle/architecture.ts";
import { bundleStoreDir } from "../../bundle/store.ts";
import { fakeCustomerSecrets } from "../../cli/demo-customer.ts";
import { followOperation } from "../../cli/follow-operation.ts";
import { type SimulatedStack, startSimulatedStack } from "../../cli/simulated-stack.ts";
import { customers, instances } from "../../db/schema.ts";
import { type CustomerSecrets, createCustomerStore } from "../../domain/customers.ts";
import type { PhaseTiming } from "../../domain/operation-progress.ts";
import { APP_HOME, APP_USER } from "../../domain/ownership.ts";
import { RACHEL8_PATHS, rachel8Unit } from "../../domain/rachel8.ts";
import { createRequests } from "../../domain/requests.ts";
import { buildVariantBundle } from "../../harness/upgrade/variant-bundle.ts";
import { missingContainerRequirements } from "../../sim/container/requirements.ts";
import { ContainerMachine } from "../../sim/index.ts";
import { runCommand } from "../support/run-command.ts";

const inCi = process.env.CI === "true";
const REPO = join(import.meta.dir, "../..");
const missing = missingContainerRequirements();
/** A first root filesystem build (~60-80 s) plus a boot and a provision, on a loaded 2-core machine. */
setDefaultTimeout(10 * 60_000);

describe.skipIf(missing.length > 0 && !inCi)("a provision on a real Debian 13 machine", () => {
  let world: SimulatedStack;
  let dataDir: string;
  let instanceId: string;
  let machine: ContainerMachine;
  let provisionMs: number;
  let secrets: CustomerSecrets;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`container machines need: ${missing.join("; ")}`);
    dataDir = mkdtempSync(join(tmpdir(), "rachel-lane-"));
    world = await startSimulatedStack({ dataDir, timeScale: 0.05, machines: "container", onLine: () => {} });
    secrets = fakeCustomerSecrets("lane");
    createCustomerStore({ db: world.db, sealer: world.sealer }).upsert("lane-customer", secrets);
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
    console.info(`provision phases: ${phaseLine(summary.phases)}`);
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
  const unitProps = async (...names: string[]) => {
    const shown = await inside(`systemctl show rachel8 ${names.map((name) => `-p ${name}`).join(" ")}`);
    return Object.fromEntries(
      shown
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  };
  /** PUT /v1/customers/{id} on the private listener, as the customer-facing system would. */
  const putCustomer = async (body: CustomerSecrets) => {
    const response = await fetch(`${world.apiUrl}/v1/customers/lane-customer`, {
      method: "PUT",
      headers: { "content-type": "application/json", authorization: `Bearer ${world.env.SERVICE_TOKEN}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const follow = (operationId: string) =>
    followOperation(world.db, operationId, { timeoutMs: 120_000, onStep: () => undefined });

  test("cloud-init reports our user-data done with no errors, and its own time for it", async () => {
    const status = await inside("cloud-init status --long --format json");
    const report = JSON.parse(status) as { status: string; errors: unknown[]; recoverable_errors: object };
    expect(report.status).toBe("done");
    expect(report.errors).toEqual([]);
    const analyze = await inside(
      // The lane's timing report: cloud-init's stages (in modules-final, config-scripts-user runs our runcmd:
      // the bundle's fetch and unpack; then config-phone-home) and the container's boot as systemd counts it.
      "{ cloud-init analyze show; systemd-analyze time; } 2>/dev/null | grep -E 'Finished stage|scripts.user|phone.home|Total Time|Startup finished' || true",
    );
    const log = await inside("grep boot-from-bundle /var/log/cloud-init-output.log");
    console.info(`provision to ready ${(provisionMs / 1000).toFixed(1)} s; cloud-init:\n${analyze.trim()}`);
    expect(log).toMatch(/^boot-from-bundle: release [0-9a-f]{64} at \/opt\/rachel8\/current\n$/);
  });

  test("the unit is active under the real systemd with no restart, running the bundle's app on its .env", async () => {
    const props = await unitProps("ActiveState", "NRestarts", "MainPID");
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

  test("files, modes and owners on the machine are as specified", async () => {
    const home = APP_HOME;
    const stat = (path: string) => inside(`stat -c '%a %U:%G' ${path}`);
    expect(await stat(`${home}/${RACHEL8_PATHS.env}`)).toBe(`600 ${APP_USER}:${APP_USER}\n`);
    expect(await stat(`${home}/.claude/.credentials.json`)).toBe(`600 ${APP_USER}:${APP_USER}\n`);
    expect(await stat("/etc/systemd/system/rachel8.service")).toBe("644 root:root\n");
    expect(await inside("cat /etc/systemd/system/rachel8.service")).toBe(
      rachel8Unit({ user: APP_USER, home: APP_HOME }),
    );
    expect(await inside("systemctl is-enabled rachel8")).toBe("enabled\n");
    const env = await inside(`cat ${home}/${RACHEL8_PATHS.env}`);
    expect(env).toContain(`TELEGRAM_BOT_TOKEN=${secrets.telegramBotToken}\n`);
    expect(env).toContain(`OWNER_TELEGRAM_USER_ID=${secrets.ownerTelegramUserId}\n`);
    expect(await inside(`cat ${home}/.claude/.credentials.json`)).toContain(secrets.claude.refreshToken);
    // The host's own name resolves without DNS (manage_etc_hosts), so no sudo waited on a resolver.
    expect(await inside("getent ahostsv4 $(hostname)")).toMatch(/^127\.0\.1\.1\s/);
    expect(await inside("journalctl --no-pager -o cat | grep -c 'unable to resolve host' || true")).toBe(
      "0\n",
    );
  });

  test("reconfigure: the new .env lands, the unit restarts cleanly, refreshed credentials stay", async () => {
    const credentialsPath = `${APP_HOME}/.claude/.credentials.json`;
    // Claude Code on the machine refreshed its tokens: a Telegram-only change must not overwrite them.
    const original = await inside(`cat ${credentialsPath}`);
    const refreshed = original.replace(secrets.claude.accessToken, "sk-ant-oat01-lane-refreshed-on-machine");
    await machine.exec(["sh", "-c", 'printf %s "$1" >"$2"', "sh", refreshed, credentialsPath]);
    const before = await unitProps("MainPID", "InvocationID");
    const telegramBotToken = fakeCustomerSecrets("lane2").telegramBotToken;

    const started = performance.now();
    const answer = await putCustomer({ ...secrets, telegramBotToken });
    expect(answer.status).toBe(200);
    const operationId = `reconfigure:${instanceId}:1`;
    expect(answer.body).toMatchObject({ reconfigure: { instanceId, operationId } });
    const summary = await follow(operationId);
    console.info(
      `reconfigure ${((performance.now() - started) / 1000).toFixed(1)} s: ${phaseLine(summary.phases)}`,
    );
    expect(summary).toMatchObject({ status: "succeeded", errorMessage: null });

    expect(await inside(`cat ${APP_HOME}/${RACHEL8_PATHS.env}`)).toContain(
      `TELEGRAM_BOT_TOKEN=${telegramBotToken}\n`,
    );
    expect(await inside(`cat ${credentialsPath}`)).toBe(refreshed);
    expect(await inside(`stat -c '%a %U:%G' ${credentialsPath}`)).toBe(`600 ${APP_USER}:${APP_USER}\n`);
    const after = await unitProps("ActiveState", "NRestarts", "MainPID", "InvocationID");
    expect(after).toMatchObject({ ActiveState: "active", NRestarts: "0" });
    expect(after.InvocationID).not.toBe(before.InvocationID);
    expect(after.MainPID).not.toBe(before.MainPID);
    const journal = await inside(`journalctl -u rachel8 -o cat --no-pager _PID=${after.MainPID}`);
    expect(journal).toContain("Rachel8 started: Telegram bot polling");
  });

  test("ops upgrade: the app restarts from the new release under the real systemd, its data intact", async () => {
    // What the app wrote outside every release, as its own user.
    const appData = { "rachel8/data/memory.json": '{"remembered":true}', "shared/notes.txt": "notes" };
    for (const [path, content] of Object.entries(appData))
      await machine.exec([
        "runuser",
        "-u",
        APP_USER,
        "--",
        "sh",
        "-c",
        'mkdir -p "$(dirname "$1")" && printf %s "$2" >"$1"',
        "sh",
        `${APP_HOME}/${path}`,
        content,
      ]);
    const before = await unitProps("InvocationID");
    const booted = world.db.select().from(instances).where(eq(instances.id, instanceId)).get()?.bundleId;
    const marker = `lane-release-${Date.now()}`;
    const next = await buildVariantBundle(
      bundleStoreDir(world.config.dataDir),
      architectureOfServerType(world.config.serverType),
      (appDir) => announceRelease(appDir, marker),
    );

    const started = performance.now();
    const ops = await runCommand(
      ["bun", "run", "--silent", "ops", "upgrade", instanceId, "--bundle", next, "--json"],
      {
        cwd: REPO,
        env: { ...process.env, OPS_API_URL: world.apiUrl, OPS_TOKEN: world.env.OPS_TOKEN },
      },
    );
    expect(ops).toMatchObject({ exitCode: 0, stderr: "" });
    const requested = JSON.parse(ops.stdout) as { operationId: string; bundleId: string };
    expect(requested.bundleId).toBe(next);
    const summary = await follow(requested.operationId);
    console.info(
      `upgrade ${((performance.now() - started) / 1000).toFixed(1)} s: ${phaseLine(summary.phases)}`,
    );
    expect(summary).toMatchObject({ status: "succeeded", errorMessage: null });

    const after = await unitProps("ActiveState", "NRestarts", "MainPID", "InvocationID");
    expect(after).toMatchObject({ ActiveState: "active", NRestarts: "0" });
    expect(after.InvocationID).not.toBe(before.InvocationID);
    expect(await inside("readlink /opt/rachel8/current")).toBe(`/opt/rachel8/releases/${next}\n`);
    // The process systemd started runs the new release's files, and the new app said so on its .env.
    const opened = await inside(
      `ls -l /proc/${after.MainPID}/fd/ | grep -o '/opt/rachel8/releases/[^/]*' | sort -u`,
    );
    expect(opened).toBe(`/opt/rachel8/releases/${next}\n`);
    const journal = await inside(`journalctl -u rachel8 -o cat --no-pager _PID=${after.MainPID}`);
    expect(journal).toContain(`Rachel8 release: ${marker}`);
    expect(journal).toContain("Rachel8 started: Telegram bot polling");
    expect(await inside(`test -d /opt/rachel8/releases/${booted} && echo kept`)).toBe("kept\n");
    for (const [path, content] of Object.entries(appData)) {
      expect(await inside(`cat ${APP_HOME}/${path}`)).toBe(content);
      expect(await inside(`stat -c %U ${APP_HOME}/${path}`)).toBe(`${APP_USER}\n`);
    }
    const row = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    expect(row).toMatchObject({ status: "ready", bundleId: next });
  });

  test("a crash-looping app fails verify with the real journal lines", async () => {
    // The release loses its entry point: every start of the unit now exits 1 and systemd restarts it.
    await inside("rm /opt/rachel8/current/app/src/index.ts");
    const answer = await putCustomer({
      ...secrets,
      telegramBotToken: fakeCustomerSecrets("lane3").telegramBotToken,
    });
    const operationId = `reconfigure:${instanceId}:2`;
    expect(answer.body).toMatchObject({ reconfigure: { operationId } });
    const summary = await follow(operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "verify" });
    const message = summary.errorMessage ?? "";
    expect(message).toMatch(
      /^unit rachel8\.service is (activating|failed), not active; last journal lines:\n/,
    );
    const quoted = message.split("\n").slice(1);
    expect(quoted.join("\n")).toContain('error: Module not found "/opt/rachel8/current/app/src/index.ts"');
    expect(quoted.join("\n")).toContain(
      "rachel8.service: Main process exited, code=exited, status=1/FAILURE",
    );
    // Every quoted line is one the real journal holds, as journalctl prints it.
    const journal = (await inside("journalctl -u rachel8 --no-pager")).split("\n");
    for (const line of quoted) expect(journal).toContain(line);
    const row = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    expect(row).toMatchObject({ status: "degraded", errorStep: "verify", errorCode: "unit_not_active" });
  });

  test("deprovision leaves nothing: no container, no server, the secrets shredded", async () => {
    const serverId = machine.serverId;
    const started = performance.now();
    const requested = await createRequests({ db: world.db, queue: world.queue }).requestDeprovision(
      "lane-customer",
    );
    if (requested === null) throw new Error("the customer had no instance to deprovision");
    const summary = await follow(requested.operationId);
    console.info(
      `deprovision ${((performance.now() - started) / 1000).toFixed(1)} s: ${phaseLine(summary.phases)}`,
    );
    expect(summary).toMatchObject({ status: "succeeded" });

    await machine.destroy();
    expect(world.sim.machines.get(serverId)).toBeUndefined();
    expect(machine.nspawnPid).toBeNull();
    expect(existsSync(machine.upperDir)).toBe(false);
    const atHetzner = async (path: string) => {
      const response = await fetch(`${world.sim.endpoint}${path}`, {
        headers: { authorization: `Bearer ${world.sim.token}` },
      });
      return (await response.json()) as Record<string, unknown[]>;
    };
    expect((await atHetzner("/servers")).servers).toEqual([]);
    expect((await atHetzner("/ssh_keys")).ssh_keys).toEqual([]);
    const row = world.db.select().from(instances).where(eq(instances.id, instanceId)).get();
    expect(row).toMatchObject({ status: "deprovisioned", sshPrivateKey: null, callbackToken: null });
    const customer = world.db.select().from(customers).where(eq(customers.id, "lane-customer")).get();
    expect(customer).toMatchObject({
      telegramBotToken: null,
      ownerTelegramUserId: null,
      claudeCredentials: null,
    });
  });
});

/** Makes the app log `Rachel8 release: <marker>` first thing at every start. */
async function announceRelease(appDir: string, marker: string): Promise<void> {
  const path = join(appDir, "rachel8.sh");
  const script = await Bun.file(path).text();
  await Bun.write(path, script.replace("set -eu\n", `set -eu\necho "Rachel8 release: ${marker}"\n`));
}

/** "create-server 1.2 s, await-cloud-init 9.8 s, …" */
function phaseLine(phases: readonly PhaseTiming[]): string {
  return phases.map((phase) => `${phase.step} ${(phase.durationMs / 1000).toFixed(1)} s`).join(", ");
}
