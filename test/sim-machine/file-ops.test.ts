/**
 * The file operations the simulator performs inside a box (cloud-init's files, its status, account
 * reads): exact contents and modes, append, parents, planted symlinks, and errors that name what failed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MachineError } from "../../sim/machine/errors.ts";
import { applyFileOps } from "../../sim/machine/sandbox/files.ts";
import { createSandboxLayout } from "../../sim/machine/sandbox/layout.ts";
import {
  type Isolation,
  prepareSandboxParent,
  Sandbox,
  sandboxIdentity,
} from "../../sim/machine/sandbox/sandbox.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

const scratch = mkdtempSync(join(tmpdir(), "sim-file-ops-test-"));
let isolation: Isolation;
let sandbox: Sandbox;
let canary: string;

beforeAll(async () => {
  prepareSandboxParent(scratch);
  isolation = sandboxIdentity();
  const rootDir = join(scratch, "box");
  await createSandboxLayout(rootDir, "files", isolation.owner);
  sandbox = await Sandbox.open(rootDir, "files", isolation);
  canary = join(scratch, "canary");
});
afterAll(async () => {
  await sandbox.close();
  rmSync(scratch, { recursive: true, force: true });
});

const box = (path: string) => join(sandbox.rootDir, path);
const modeOf = (path: string) => statSync(box(path)).mode & 0o7777;
const sh = (script: string) => sandbox.runOrThrow("test setup", ["/bin/sh", "-c", script]);

describe("applyFileOps", () => {
  test("writes new files with exact bytes and modes, creating missing parents 755", async () => {
    const everyByte = Uint8Array.from({ length: 256 }, (_, index) => index);
    await applyFileOps(sandbox, [
      { kind: "write", path: "/new/deep/plain", mode: "644", content: "plain\n" },
      { kind: "write", path: "/new/deep/secret", mode: "600", content: "s" },
      { kind: "write", path: "/new/tool", mode: "4755", content: "#!/bin/sh\n" },
      { kind: "write", path: "/new/binary", mode: "640", content: everyByte },
      { kind: "write", path: "/new/empty", mode: "444", content: "" },
    ]);
    expect(readFileSync(box("new/deep/plain"), "utf8")).toBe("plain\n");
    expect(readFileSync(box("new/deep/secret"), "utf8")).toBe("s");
    expect(new Uint8Array(readFileSync(box("new/binary")))).toEqual(everyByte);
    expect(readFileSync(box("new/empty"), "utf8")).toBe("");
    expect([modeOf("new"), modeOf("new/deep")]).toEqual([0o755, 0o755]);
    expect(["new/deep/plain", "new/deep/secret", "new/tool", "new/binary", "new/empty"].map(modeOf)).toEqual([
      0o644, 0o600, 0o4755, 0o640, 0o444,
    ]);
  });

  test("rewrites an existing file in place and gives it exactly the new mode", async () => {
    await applyFileOps(sandbox, [
      { kind: "write", path: "/etc/rewrite", mode: "755", content: "long old content" },
    ]);
    const inode = statSync(box("etc/rewrite")).ino;
    await applyFileOps(sandbox, [{ kind: "write", path: "/etc/rewrite", mode: "600", content: "new" }]);
    expect(readFileSync(box("etc/rewrite"), "utf8")).toBe("new");
    expect(modeOf("etc/rewrite")).toBe(0o600);
    expect(statSync(box("etc/rewrite")).ino).toBe(inode);
  });

  test("mkdir creates with its mode, re-modes an existing directory, and lets later entries write into it", async () => {
    await sh("mkdir -p /data/kept && chmod 777 /data/kept && echo keep > /data/kept/file");
    await applyFileOps(sandbox, [
      { kind: "mkdir", path: "/data/kept", mode: "750" },
      { kind: "mkdir", path: "/data/new/private", mode: "700" },
      { kind: "write", path: "/data/new/private/inside", mode: "600", content: "in" },
      { kind: "mkdir", path: "/data/sticky", mode: "1777" },
    ]);
    expect(modeOf("data/kept")).toBe(0o750);
    expect(readFileSync(box("data/kept/file"), "utf8")).toBe("keep\n");
    expect([modeOf("data/new"), modeOf("data/new/private"), modeOf("data/sticky")]).toEqual([
      0o755, 0o700, 0o1777,
    ]);
    expect(readFileSync(box("data/new/private/inside"), "utf8")).toBe("in");
  });

  test("a symlink the box planted is followed inside the box, never to the host", async () => {
    await Bun.write(canary, "host file\n");
    await sh(
      `mkdir -p ${scratch} && ln -s ${canary} /etc/planted && mkdir -p /real && ln -s /real /linked && ln -s ${scratch} /scratch-link`,
    );
    await applyFileOps(sandbox, [
      { kind: "write", path: "/etc/planted", mode: "600", content: "box\n" },
      { kind: "mkdir", path: "/linked", mode: "700" },
      { kind: "write", path: "/linked/file", mode: "644", content: "through\n" },
      { kind: "write", path: "/scratch-link/canary", mode: "600", content: "more\n" },
    ]);
    expect(readFileSync(canary, "utf8")).toBe("host file\n");
    expect(lstatSync(box("etc/planted")).isSymbolicLink()).toBe(true);
    expect(readFileSync(box(canary), "utf8")).toBe("more\n");
    expect(lstatSync(box("linked")).isSymbolicLink()).toBe(true);
    expect(readFileSync(box("real/file"), "utf8")).toBe("through\n");
  });

  test("a failure is a sandbox_command_failed error naming the path", async () => {
    const failure = applyFileOps(sandbox, [
      { kind: "write", path: "/etc/hostname/under-a-file", mode: "644", content: "x" },
    ]);
    await expect(failure).rejects.toBeInstanceOf(MachineError);
    await expect(failure).rejects.toThrow(/cannot apply file changes: .*\/etc\/hostname/);
    expect(lstatSync(box("etc/hostname")).isFile()).toBe(true);
  });

  test("a path longer than a tar header's name field is written whole", async () => {
    const path = `/long/${"d".repeat(120)}/${"f".repeat(140)}`;
    await applyFileOps(sandbox, [{ kind: "write", path, mode: "600", content: "far" }]);
    expect(readFileSync(box(path), "utf8")).toBe("far");
    expect(modeOf(path)).toBe(0o600);
  });

  test("a mode that is not octal is refused before anything runs, naming the path", async () => {
    const bad = applyFileOps(sandbox, [{ kind: "write", path: "/etc/bad-mode", mode: "u+x", content: "" }]);
    await expect(bad).rejects.toThrow('not an octal mode for /etc/bad-mode: "u+x"');
    expect(() => statSync(box("etc/bad-mode"))).toThrow();
  });

  test("a path that is not absolute is refused before anything runs", async () => {
    const relative = applyFileOps(sandbox, [{ kind: "write", path: "etc/x", mode: "644", content: "" }]);
    await expect(relative).rejects.toThrow('not an absolute, single-line path: "etc/x"');
  });
});
