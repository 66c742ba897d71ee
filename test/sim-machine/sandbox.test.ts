import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MachineError } from "../../sim/machine/errors.ts";
import { createSandboxLayout } from "../../sim/machine/sandbox/layout.ts";
import {
  prepareSandboxParent,
  SANDBOX_ROOT_USER,
  SANDBOX_UID_WHEN_ROOT,
  Sandbox,
  type SandboxResult,
  sandboxIdentity,
} from "../../sim/machine/sandbox/sandbox.ts";

import { bootAndSettle, cloudConfig, startTestHost } from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

const scratch = mkdtempSync(join(tmpdir(), "sim-sandbox-test-"));
prepareSandboxParent(scratch);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Opens a box under `parent`, runs `true` in it and closes it. */
async function runInFreshBox(parent: string): Promise<SandboxResult> {
  const rootDir = join(parent, "box");
  const isolation = sandboxIdentity();
  await createSandboxLayout(rootDir, "box", isolation.owner);
  const sandbox = await Sandbox.open(rootDir, "box", isolation);
  return sandbox.run(["true"]).finally(() => sandbox.close());
}

describe("the namespace sandbox", () => {
  test("works on this host", async () => {
    expect(await runInFreshBox(scratch)).toEqual({ exitCode: 0, stdout: "", stderr: "" });
  });

  test("works under a data directory whose path holds blanks (its mounts are passed as arguments)", async () => {
    const spaced = join(scratch, "with space\tand tab");
    prepareSandboxParent(spaced);
    expect(await runInFreshBox(spaced)).toEqual({ exitCode: 0, stdout: "", stderr: "" });
  });

  test("a destroyed box refuses new commands instead of running them anywhere else", async () => {
    const rootDir = join(scratch, "destroyed");
    const isolation = sandboxIdentity();
    await createSandboxLayout(rootDir, "gone", isolation.owner);
    const sandbox = await Sandbox.open(rootDir, "gone", isolation);
    await sandbox.close();
    expect(() => sandbox.startSession(["true"], SANDBOX_ROOT_USER)).toThrow(
      new MachineError("sandbox_unavailable", "the machine has been destroyed"),
    );
  });

  test.if(process.getuid?.() === 0)(
    "an unusable sandbox makes cloud-init fail with the setup's reason, never run unsandboxed",
    async () => {
      // As root the sandbox runs as nobody, who cannot traverse this private parent directory.
      const privateParent = mkdtempSync(join(tmpdir(), "sim-private-"));
      const env = await startTestHost({ dataDir: join(privateParent, "machines") });
      try {
        const machine = await env.host.create({
          serverId: 1,
          name: "nobox",
          ipv4: "127.77.8.1",
          userData: cloudConfig(),
        });
        const view = await bootAndSettle(machine);
        expect(view.cloudInit.state).toBe("error");
        expect(view.cloudInit.error).toStartWith("the machine's disk could not be prepared: mount:");
        expect(view.cloudInit.error).toEndWith("must be searchable by others)");
      } finally {
        await env.cleanup();
        rmSync(privateParent, { recursive: true, force: true });
      }
    },
  );

  test.if(process.getuid?.() === 0)(
    "also works for a non-root developer (checked by dropping to an unprivileged uid)",
    async () => {
      const home = mkdtempSync(join(tmpdir(), "sim-developer-"));
      chownSync(home, SANDBOX_UID_WHEN_ROOT, SANDBOX_UID_WHEN_ROOT);
      try {
        const uid = String(SANDBOX_UID_WHEN_ROOT);
        const fixture = join(import.meta.dir, "fixtures/developer-session.ts");
        const developer = Bun.spawn(
          ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", process.execPath, fixture, home],
          { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home }, stdout: "pipe", stderr: "pipe" },
        );
        const [stdout, stderr, exitCode] = await Promise.all([
          new Response(developer.stdout).text(),
          new Response(developer.stderr).text(),
          developer.exited,
        ]);
        expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" });
        expect(JSON.parse(stdout)).toEqual({
          uid: SANDBOX_UID_WHEN_ROOT,
          cloudInit: "done",
          session: { code: 0, stdout: "0\nwritten\n", stderr: "" },
        });
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
