/**
 * confirmFirstBoot over a real sshd, with a `cloud-init` stand-in on the user's PATH answering as
 * cloud-init 25.1 does (status lines; exit 0 done, 1 error, 2 done with recoverable errors).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type MachineFixture, startMachine } from "../../harness/remote/machine-fixture.ts";
import { sshdTestsEnabled } from "../../harness/support/sshd.ts";
import { isRemoteError } from "../../remote/errors.ts";
import { confirmFirstBoot, FirstBootFailedError } from "../../remote/first-boot.ts";

const enabled = sshdTestsEnabled(process.env);

describe.skipIf(!enabled)("confirmFirstBoot (real sshd, cloud-init stand-in)", () => {
  let machine: MachineFixture;
  let marker: string;
  let bootLog: string;

  beforeAll(async () => {
    machine = await startMachine();
    marker = join(machine.systemd.binDir, "..", "setup-complete");
    bootLog = join(machine.systemd.binDir, "..", "cloud-init-output.log");
    const lines = Array.from({ length: 30 }, (_, i) => `boot line ${i + 1}`);
    await writeFile(
      bootLog,
      `${lines.join("\n")}\nboot-from-bundle: downloading the bundle failed (curl exit 22; 22: refused, so a wrong or spent token or a foreign address)\n`,
      {
        mode: 0o644,
      },
    );
  });

  afterAll(async () => {
    await machine?.close();
  });

  /** cloud-init answers `status` with these lines and exit code. */
  async function cloudInit(status: string, code: number): Promise<void> {
    const script = `#!/bin/sh\nprintf '..%s\\n' '${status}'\nexit ${code}\n`;
    await writeFile(join(machine.systemd.binDir, "cloud-init"), script, { mode: 0o755 });
  }

  const confirm = () =>
    confirmFirstBoot(machine.session, { markerPath: marker, bootLogPath: bootLog, logLines: 5 });

  test("done with the marker: confirmed, with the setup's time", async () => {
    await cloudInit("status: done", 0);
    await writeFile(marker, "2026-12-07T16:00:00Z\n", { mode: 0o644 });
    expect(await confirm()).toEqual({ cloudInit: "done", setupCompletedAt: "2026-12-07T16:00:00Z" });
  });

  test("recoverable errors (exit 2) with the marker: accepted as degraded", async () => {
    await cloudInit("status: done\nextended_status: degraded done", 2);
    expect(await confirm()).toMatchObject({ cloudInit: "degraded" });
  });

  test("status error: fails for good with the boot log's last lines", async () => {
    await cloudInit("status: error\nerrors:\n\t- (scripts_user) Runparts: 1 failures (runcmd)", 1);
    const err = await confirm().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FirstBootFailedError);
    expect(isRemoteError(err) && err.retryable).toBe(false);
    expect((err as FirstBootFailedError).reason).toBe("cloud-init status: error");
    expect((err as FirstBootFailedError).log).toEqual([
      "boot line 27",
      "boot line 28",
      "boot line 29",
      "boot line 30",
      "boot-from-bundle: downloading the bundle failed (curl exit 22; 22: refused, so a wrong or spent token or a foreign address)",
    ]);
  });

  test("done but no marker (the setup never finished): fails, naming the marker", async () => {
    await cloudInit("status: done", 0);
    await rm(marker, { force: true });
    const err = await confirm().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FirstBootFailedError);
    expect((err as Error).message).toContain(`setup marker ${marker} missing; cloud-init status: done`);
  });
});
