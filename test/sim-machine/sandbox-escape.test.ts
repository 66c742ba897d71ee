import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "ssh2";
import { SANDBOX_UID_WHEN_ROOT } from "../../sim/machine/sandbox/sandbox.ts";
import type { MachineView } from "../../sim/machine-contract.ts";
import { bootAndSettle, cloudConfig, connect, exec, startTestHost, type TestHost } from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

/** Hostile commands run as "root" inside the box; each must leave the host untouched. */

let env: TestHost;
let view: MachineView;
let root: Client;
let outside: string;
// Other suites may add users on this host meanwhile, so check for our marker, not the whole file.
const hostPasswdIsClean = () => !readFileSync("/etc/passwd", "utf8").includes("evil:x:0:0");

beforeAll(async () => {
  env = await startTestHost();
  outside = mkdtempSync(join(tmpdir(), "sim-canary-"));
  writeFileSync(join(outside, "secret"), "host secret\n", { mode: 0o644 });
  view = await bootAndSettle(
    await env.host.create({ serverId: 31, name: "hostile", ipv4: "127.77.3.31", userData: cloudConfig() }),
  );
  root = await connect(view);
});
afterAll(async () => {
  root.end();
  await env.cleanup();
  rmSync(outside, { recursive: true, force: true });
});

describe("the sandbox keeps hostile commands inside the box", () => {
  test("an absolute path lands inside the sandbox, and writing /etc/passwd edits only the box's copy", async () => {
    const result = await exec(
      root,
      "sudo sh -c 'echo evil:x:0:0::/:/bin/sh >> /etc/passwd' && tail -n 1 /etc/passwd",
    );
    expect(result.stdout).toBe("evil:x:0:0::/:/bin/sh\n");
    expect(readFileSync(join(view.sandboxDir, "etc/passwd"), "utf8")).toContain("evil:x:0:0");
    expect(hostPasswdIsClean()).toBe(true);
  });

  test("the simulator's environment (tokens and all) does not leak into sessions", async () => {
    process.env.SIM_MACHINE_TEST_SECRET = "leak-me";
    try {
      const names = (await exec(root, "env | cut -d= -f1 | sort")).stdout.split("\n").filter(Boolean);
      expect(names).not.toContain("SIM_MACHINE_TEST_SECRET");
      expect(names).toEqual(expect.arrayContaining(["HOME", "PATH", "USER"]));
    } finally {
      delete process.env.SIM_MACHINE_TEST_SECRET;
    }
  });

  test("'root' inside is an unprivileged uid outside", async () => {
    await exec(root, "sudo touch /root/made-by-root");
    const owner = statSync(join(view.sandboxDir, "root/made-by-root")).uid;
    expect(owner).toBe(process.getuid?.() === 0 ? SANDBOX_UID_WHEN_ROOT : (process.getuid?.() ?? -1));
  });

  test("climbing above / and reading host paths or /root finds only the box", async () => {
    const above = await exec(root, "cd /; ls ../..");
    expect(above.stdout).toBe((await exec(root, "ls /")).stdout);
    expect(above.stdout.split("\n")).toContain("opt");
    const boxRoot = readdirSync(join(view.sandboxDir, "root")).sort();
    expect((await exec(root, "sudo ls -A /root")).stdout.split("\n").filter(Boolean).sort()).toEqual(boxRoot);
    const secret = await exec(root, `cat ${join(outside, "secret")}`);
    expect(secret).toMatchObject({ code: 1, stdout: "" });
    expect(secret.stderr).toContain("No such file or directory");
  });

  test("a planted symlink among the simulated tools cannot pull a host file into the box", async () => {
    chmodSync(outside, 0o755);
    const plant = await exec(root, `sudo ln -sf ${join(outside, "secret")} /opt/sim/bin/journalctl`);
    expect(plant.code).toBe(0);
    const next = await exec(root, "cat /opt/sim/bin/journalctl 2>&1; journalctl -u x; echo session-ok");
    expect(next.stdout).not.toContain("host secret");
    expect(next.stdout).toEndWith("session-ok\n");
  });

  test("the host's programs are read-only and setuid bits do nothing", async () => {
    const write = await exec(root, "sudo touch /usr/bin/planted; sudo mount -o remount,rw /usr");
    expect(write.stderr).toContain("Read-only file system");
    expect(existsSync("/usr/bin/planted")).toBe(false);
    expect((await exec(root, "grep ' /usr ' /proc/self/mounts")).stdout).toContain("nosuid");
  });

  test("host processes are invisible and cannot be killed", async () => {
    const sleeper = Bun.spawn(["sleep", "60"]);
    try {
      const result = await exec(root, `sudo kill -9 ${sleeper.pid}; sudo kill -9 -1`);
      expect(result.stderr).toContain("No such process");
      expect(sleeper.exitCode).toBeNull();
      expect(process.kill(sleeper.pid, 0)).toBe(true);
    } finally {
      sleeper.kill();
    }
  });

  test("there is no network, not even the host's loopback", async () => {
    let connections = 0;
    const listener = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        connections++;
        return new Response("reached");
      },
    });
    try {
      const attempt = await exec(root, `bash -c 'echo > /dev/tcp/127.0.0.1/${listener.port}' 2>&1`);
      expect(attempt.stdout).toContain("Network is unreachable");
      expect(connections).toBe(0);
    } finally {
      await listener.stop(true);
    }
  });

  test.if(existsSync("/usr/bin/python3"))(
    "a chroot escape lands back in the box, not on the host",
    async () => {
      const chrootEscape = [
        "import os",
        "os.makedirs('/jail', exist_ok=True)",
        "os.chroot('/jail')",
        "[os.chdir('..') for _ in range(64)]",
        "os.chroot('.')",
        "print(sorted(os.listdir('/')))",
      ].join("\n");
      const result = await exec(root, "sudo python3 -", chrootEscape);
      // Only the box's root has /jail and /opt/sim; the host's has neither.
      expect(result.stdout).toContain("'jail'");
      expect(result.stdout).toContain("'opt'");
    },
  );

  test("rm -rf / empties only the box, and its session still ends cleanly", async () => {
    const result = await exec(root, "sudo rm -rf --no-preserve-root / 2>/dev/null; echo survived");
    expect(result.stdout).toBe("survived\n");
    expect(readFileSync(join(outside, "secret"), "utf8")).toBe("host secret\n");
    expect(hostPasswdIsClean()).toBe(true);
    expect(existsSync("/usr/bin/sh")).toBe(true);
    expect(existsSync(join(view.sandboxDir, "etc/passwd"))).toBe(false);
  }, 30_000);
});
