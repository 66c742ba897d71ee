/**
 * A provision proves the bot can think, not only that it runs: the first boot is confirmed before any
 * secret is sent, and verify finds the Claude Code CLI where Rachel8 looks for it, logged in.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { and, desc, eq } from "drizzle-orm";
import type { Sealer } from "../../core/secrets.ts";
import { stepRuns } from "../../db/schema.ts";
import { APP_HOME } from "../../domain/ownership.ts";
import { RACHEL8_PATHS } from "../../domain/rachel8.ts";
import { provisionWorldForFile } from "../../harness/provision-job/world.ts";
import { SETUP_COMPLETE_MARKER } from "../../jobs/provision/cloud-init.ts";

describe("the bot can think", () => {
  const fixture = provisionWorldForFile();

  test("verify finds the CLI with the unit's environment, logged in; the .env selects Claude Code", async () => {
    await fixture.current.startWorker();
    const { customerId } = fixture.current.addCustomer("thinks");
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary.status).toBe("succeeded");
    expect(output(requested.operationId, "verify")).toMatchObject({ cliPath: "/usr/local/bin/claude" });
    expect(output(requested.operationId, "inject-secrets")).toMatchObject({
      firstBoot: { cloudInit: "done" },
    });
    const instance = fixture.current.instance(requested.instanceId);
    const machine = fixture.current.sim.machines.get(instance.hetznerServerId ?? -1)?.view();
    if (!machine) throw new Error("no machine behind the server");
    expect(readFileSync(join(machine.sandboxDir, APP_HOME, RACHEL8_PATHS.env), "utf8")).toContain(
      "\nAI_PROVIDER=claudecode\n",
    );
  }, 60_000);

  test("no CLI where the app looks: verify fails naming it, and the server is rolled back", async () => {
    await fixture.current.startWorker();
    fixture.current.sim.faults.add({ kind: "claude_cli_missing" });
    const { customerId } = fixture.current.addCustomer("nocli");
    const requested = await fixture.current.requests.requestProvision(customerId);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "verify" });
    expect(summary.errorMessage).toContain("Claude Code CLI not found where Rachel8 looks for it");
    expect(fixture.current.instance(requested.instanceId)).toMatchObject({
      status: "failed",
      errorCode: "cli_missing",
      hetznerServerId: null,
    });
    // Permanent: one verify attempt, no retries.
    expect(summary.phases.find((phase) => phase.step === "verify")?.attempts).toBe(1);
    // The rollback fetched the credentials back before deleting the server: no machine holds them now.
    expect(fixture.current.customers.claudeState(customerId)).toEqual({
      version: 1,
      deliveredToServerId: null,
    });
  }, 60_000);

  test("a rollback that cannot reach the machine: the re-run's server is flagged needs re-login", async () => {
    // The rollback's SSH connection (the second key unsealing of the run) fails: the machine is unreachable.
    let keyOpens = 0;
    const { sealer } = fixture.current;
    const unreachableOnRollback: Sealer = {
      ...sealer,
      open(sealed, context) {
        if (context.endsWith(":sshPrivateKey") && ++keyOpens === 2) throw new Error("machine unreachable");
        return sealer.open(sealed, context);
      },
    };
    await fixture.current.startWorker({ sealer: unreachableOnRollback });
    const noCli = fixture.current.sim.faults.add({ kind: "claude_cli_missing" });
    const { customerId } = fixture.current.addCustomer("relogin");
    const requested = await fixture.current.requests.requestProvision(customerId);
    expect(await fixture.current.finish(requested.operationId)).toMatchObject({ status: "failed" });
    const firstServer = fixture.current.customers.claudeState(customerId).deliveredToServerId;
    expect(firstServer).not.toBeNull();
    expect(fixture.current.instance(requested.instanceId).hetznerServerId).toBeNull();
    const warnings = fixture.current.runtime.logs.filter((line) =>
      String(line.msg).startsWith("needs re-login"),
    );
    expect(warnings.map((line) => line.msg)).toEqual([
      expect.stringContaining(`could not fetch the Claude credentials back from server ${firstServer}`),
    ]);

    fixture.current.sim.faults.remove(noCli);
    const rerun = await fixture.current.runtime.queue.retry(requested.instanceId, "provision");
    expect(await fixture.current.finish(rerun.jobId)).toMatchObject({ status: "succeeded" });
    const instance = fixture.current.instance(requested.instanceId);
    expect(instance.status).toBe("ready");
    expect(instance.claudeReloginReason).toContain(`were delivered to server ${firstServer} before`);
    expect(output(rerun.jobId, "inject-secrets")).toMatchObject({
      credentials: "written",
      needsRelogin: true,
    });
  }, 60_000);

  test("a first boot without its setup marker fails before any secret is sent; the server is replaced", async () => {
    // The callback comes late, so the marker can be taken away between setup and injection.
    fixture.current.sim.faults.add({ kind: "phone_home_late", delayMs: 1_500 });
    await fixture.current.startWorker();
    const { customerId } = fixture.current.addCustomer("badboot");
    const requested = await fixture.current.requests.requestProvision(customerId);
    const marker = await waitForMarker(`rachel-${requested.instanceId}`);
    rmSync(marker);
    const summary = await fixture.current.finish(requested.operationId);
    expect(summary).toMatchObject({ status: "failed", errorStep: "inject-secrets" });
    expect(summary.errorMessage).toContain(
      `first boot failed (setup marker ${SETUP_COMPLETE_MARKER} missing`,
    );
    expect(summary.errorMessage).toContain("last lines of the boot log:");
    expect(summary.errorMessage).toContain("boot-from-bundle: release ");
    expect(fixture.current.instance(requested.instanceId)).toMatchObject({
      errorCode: "first_boot_failed",
      hetznerServerId: null,
    });
    expect(summary.phases.find((phase) => phase.step === "inject-secrets")?.attempts).toBe(1);
    const credentials = join(marker, "../../../..", APP_HOME, RACHEL8_PATHS.credentials);
    expect(existsSync(credentials)).toBe(false);
    // Retried by replacing the server, never by waiting on the broken one.
    const rerun = await fixture.current.runtime.queue.retry(requested.instanceId, "provision");
    expect(await fixture.current.finish(rerun.jobId)).toMatchObject({ status: "succeeded" });
    expect(fixture.current.instance(requested.instanceId).status).toBe("ready");
  }, 60_000);

  /** The recorded output of the operation's newest succeeded attempt of a step. */
  function output(operationId: string, step: string): unknown {
    const row = fixture.current.runtime.db
      .select({ output: stepRuns.output })
      .from(stepRuns)
      .where(
        and(eq(stepRuns.operationId, operationId), eq(stepRuns.step, step), eq(stepRuns.status, "succeeded")),
      )
      .orderBy(desc(stepRuns.id))
      .get();
    return JSON.parse(row?.output ?? "null");
  }

  /** The setup marker on the named machine's disk, once the boot script has written it. */
  async function waitForMarker(name: string): Promise<string> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const machine = fixture.current.sim.machines.list().find((box) => box.view().name === name);
      const path = machine && join(machine.view().sandboxDir, SETUP_COMPLETE_MARKER);
      if (path && existsSync(path)) return path;
      await Bun.sleep(20);
    }
    throw new Error("no setup marker within 30 s");
  }
});
