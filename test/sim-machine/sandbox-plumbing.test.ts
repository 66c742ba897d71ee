/**
 * How a box's commands are started: the identity they run under as the host sees it, an SSH session's
 * command (made without anything on the box's filesystem).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSandboxLayout } from "../../sim/machine/sandbox/layout.ts";
import {
  prepareSandboxParent,
  SANDBOX_ROOT_USER,
  SANDBOX_UID_WHEN_ROOT,
  Sandbox,
  sandboxIdentity,
} from "../../sim/machine/sandbox/sandbox.ts";
import { waitFor } from "../sim/helpers.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

const scratch = mkdtempSync(join(tmpdir(), "sim-plumbing-test-"));
let sandbox: Sandbox;

beforeAll(async () => {
  prepareSandboxParent(scratch);
  const isolation = sandboxIdentity();
  const rootDir = join(scratch, "box");
  await createSandboxLayout(rootDir, "plumbing", isolation.owner);
  sandbox = await Sandbox.open(rootDir, "plumbing", isolation);
});
afterAll(async () => {
  await sandbox.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs `script` in the box with pipes, as the SSH endpoint starts a session's command, feeding `stdin`. */
async function session(
  script: string,
  stdin = "",
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = sandbox.startSession(["/bin/sh", "-c", script], SANDBOX_ROOT_USER);
  child.stdin.write(stdin);
  await child.stdin.end();
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

function _readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/** The fields of a /proc/<pid>/status file that say who a process is. */
function identity(status: string): Record<string, string> {
  const fields = Object.fromEntries(
    status.split("\n").map((line) => [line.split(":")[0], line.slice(line.indexOf(":") + 1).trim()]),
  );
  return { Uid: fields.Uid, Gid: fields.Gid, Groups: fields.Groups, NoNewPrivs: fields.NoNewPrivs };
}

describe("a command of the box", () => {
  test("runs as the sandbox uid with no supplementary groups and no_new_privs, inside and as the host sees it", async () => {
    const hostUid = String(process.getuid?.() === 0 ? SANDBOX_UID_WHEN_ROOT : process.getuid?.());
    const hostGid = String(process.getuid?.() === 0 ? SANDBOX_UID_WHEN_ROOT : process.getgid?.());
    const child = sandbox.startSession(
      ["/bin/sh", "-c", "cat /proc/self/status; read -r _"],
      SANDBOX_ROOT_USER,
    );
    let inside = "";
    const reading = (async () => {
      for await (const chunk of child.stdout) inside += new TextDecoder().decode(chunk);
    })();
    await waitFor("the command's status", () => inside.includes("NoNewPrivs") || undefined);
    // The launcher's children are the command's pid 1 (enter.sh), which runs the command itself.
    const launcher = child.pid ?? 0;
    const [entered = ""] = readFileSync(`/proc/${launcher}/task/${launcher}/children`, "utf8")
      .trim()
      .split(" ");
    const seenFromHost = [launcher, Number(entered)].map((pid) =>
      identity(readFileSync(`/proc/${pid}/status`, "utf8")),
    );
    child.stdin.write("\n");
    await child.stdin.end();
    await Promise.all([reading, child.exited]);
    const ids = (id: string) => [id, id, id, id].join("\t");
    for (const seen of seenFromHost) {
      expect(seen).toEqual({ Uid: ids(hostUid), Gid: ids(hostGid), Groups: "", NoNewPrivs: "1" });
    }
    expect(identity(inside)).toEqual({ Uid: ids("0"), Gid: ids("0"), Groups: "", NoNewPrivs: "1" });
  });
});

describe("the entry into the box", () => {
  test("uses the host's own tools, never ones the box planted earlier on its PATH", async () => {
    const plant = (dir: string) =>
      `mkdir -p ${dir} && for tool in unshare nsenter setpriv sh; do printf '#!/bin/sh\\necho hijacked\\n' >${dir}/$tool; chmod 755 ${dir}/$tool; done`;
    await sandbox.runOrThrow("planting tools", [
      "/bin/sh",
      "-c",
      `${plant("/usr/local/bin")} && ${plant("/opt/sim/bin")}`,
    ]);
    try {
      const result = await sandbox.run(["/bin/sh", "-c", "echo $$"]);
      expect(result).toEqual({ exitCode: 0, stdout: "2\n", stderr: "" });
    } finally {
      await sandbox.runOrThrow("removing them", [
        "/bin/rm",
        "-f",
        ...["unshare", "nsenter", "setpriv", "sh"].flatMap((tool) => [
          `/usr/local/bin/${tool}`,
          `/opt/sim/bin/${tool}`,
        ]),
      ]);
    }
  });
});

describe("an SSH session's command", () => {
  test("makes nothing on the box's filesystem, so deleting /run wedges neither it nor the next one", async () => {
    expect(await session("rm -rf /run && echo gone")).toEqual({ code: 0, stdout: "gone\n", stderr: "" });
    expect(await session("cat; ls -A /", "still\n")).toMatchObject({
      code: 0,
      stdout: expect.stringContaining("still\n"),
    });
  });

  test("ends when its command kills every process it can, with the command's status", async () => {
    const result = await session("echo before; env kill -9 -1; sleep 30");
    expect(result.code).toBe(137);
  });
});
