import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import type { MachineView } from "../../sim/machine-contract.ts";
import { waitFor } from "../sim/helpers.ts";
import {
  bootAndSettle,
  cloudConfig,
  connect,
  exec,
  sshRun,
  startTestHost,
  type TestHost,
  userKey,
} from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

let env: TestHost;
let view: MachineView;
beforeAll(async () => {
  env = await startTestHost();
  const machine = await env.host.create({
    serverId: 1,
    name: "box-1",
    ipv4: "127.77.0.1",
    userData: cloudConfig(),
  });
  view = await bootAndSettle(machine);
});
afterAll(() => env.cleanup());

/** Whether anything accepts TCP connections at `address:port`. */
function accepts(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: address, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Host pids whose command line contains `marker`. */
/** This test's own processes whose command line holds `marker` (other runs on the machine are not ours). */
function pidsWithMarker(marker: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker) && descendsFromUs(pid);
      } catch {
        return false; // the process ended while we looked
      }
    })
    .map(Number);
}

function descendsFromUs(pid: string): boolean {
  for (let current = pid; current !== "0" && current !== "1"; ) {
    if (current === String(process.pid)) return true;
    const stat = readFileSync(`/proc/${current}/stat`, "utf8");
    current = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? "0";
  }
  return false;
}

describe("a booted machine's SSH endpoint", () => {
  test("presents its own host key and runs commands in the sandbox at absolute paths", async () => {
    expect(view.cloudInit.state).toBe("done");
    expect(view.hostKeyEd25519).toMatch(/^ssh-ed25519 AAAA\S+ root@box-1$/);
    const write = await sshRun(view, "cat > /home/rachel/.env && chmod 600 /home/rachel/.env", "TOKEN=abc\n");
    expect(write.code).toBe(0);
    const read = await sshRun(view, "cat /home/rachel/.env; hostname; pwd");
    expect(read).toEqual({ code: 0, stdout: "TOKEN=abc\nbox-1\n/home/rachel\n", stderr: "" });
    expect(readFileSync(join(view.sandboxDir, "home/rachel/.env"), "utf8")).toBe("TOKEN=abc\n");
  });

  test("reports exit codes and stderr", async () => {
    const client = await connect(view);
    try {
      expect(await exec(client, "echo oops >&2; exit 42")).toEqual({
        code: 42,
        stdout: "",
        stderr: "oops\n",
      });
    } finally {
      client.end();
    }
  });

  test("streams megabytes both ways and sends the exit status after the output", async () => {
    const client = await connect(view);
    try {
      const upload = "u".repeat(3_000_000);
      const result = await exec(
        client,
        "cat > /tmp/big && wc -c < /tmp/big && head -c 3000000 /dev/zero; exit 7",
        upload,
      );
      expect(result.code).toBe(7);
      expect(result.stdout.length).toBe("3000000\n".length + 3_000_000);
    } finally {
      client.end();
    }
  });

  test("ends a session when the command exits even if the client never closes stdin", async () => {
    const client = await connect(view);
    try {
      const code = await new Promise<number>((resolve, reject) => {
        client.exec("exit 3", (error, stream) => {
          if (error) return reject(error);
          stream.on("exit", (exitCode: number) => resolve(exitCode));
          stream.resume();
        });
      });
      expect(code).toBe(3);
    } finally {
      client.end();
    }
  });

  test("serves OpenSSH's client with stdin at EOF, which sends its EOF right after the exec request", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sim-openssh-"));
    try {
      writeFileSync(join(dir, "key"), userKey.private, { mode: 0o600 });
      writeFileSync(join(dir, "known_hosts"), `[${view.address}]:${view.sshPort} ${view.hostKeyEd25519}\n`);
      const ssh = Bun.spawn(
        [
          "ssh",
          ...["-F", "/dev/null", "-i", join(dir, "key"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
          ...["-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`, "-o", "StrictHostKeyChecking=yes"],
          ...["-p", String(view.sshPort), `rachel@${view.address}`, "hostname; exit 5"],
        ],
        { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      const [code, stdout, stderr] = await Promise.all([
        ssh.exited,
        new Response(ssh.stdout).text(),
        new Response(ssh.stderr).text(),
      ]);
      expect({ code, stdout, stderr }).toEqual({ code: 5, stdout: "box-1\n", stderr: "" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("refuses a pinned host key that does not match", async () => {
    const other = generateSshKeyPair("other-host").publicKey;
    await expect(connect(view, { pinnedHostKey: other })).rejects.toThrow("Host denied");
  });

  test("refuses unknown keys and unknown users", async () => {
    const stranger = generateSshKeyPair("stranger").privateKey;
    await expect(connect(view, { privateKey: stranger })).rejects.toThrow("authentication methods failed");
    await expect(connect(view, { username: "mallory" })).rejects.toThrow("authentication methods failed");
  });

  test("reads authorized_keys at every login, as sshd does: a key added later logs in, a removed one no longer", async () => {
    const later = generateSshKeyPair("later");
    const keys = "/home/rachel/.ssh/authorized_keys";
    await sshRun(view, `printf '%s\\n' '${later.publicKey}' >>${keys}`);
    const client = await connect(view, { privateKey: later.privateKey });
    expect((await exec(client, 'echo "$USER"')).stdout).toBe("rachel\n");
    client.end();
    await sshRun(view, `grep -v later ${keys} >${keys}.new && mv ${keys}.new ${keys}`);
    await expect(connect(view, { privateKey: later.privateKey })).rejects.toThrow(
      "authentication methods failed",
    );
  });

  test("refuses a user name no account can have without asking the box, and logins go on", async () => {
    await expect(connect(view, { username: "rachel x" })).rejects.toThrow("authentication methods failed");
    await expect(connect(view, { username: "rachel\nroot" })).rejects.toThrow(
      "authentication methods failed",
    );
    expect((await sshRun(view, "echo fine")).stdout).toBe("fine\n");
  });

  test("rejects shells, sftp and port forwarding both ways", async () => {
    const client = await connect(view);
    try {
      const shell = new Promise((resolve, reject) =>
        client.shell((error) => (error ? reject(error) : resolve(0))),
      );
      await expect(shell).rejects.toThrow();
      const sftp = new Promise((resolve, reject) =>
        client.sftp((error) => (error ? reject(error) : resolve(0))),
      );
      await expect(sftp).rejects.toThrow();
      const forward = new Promise((resolve, reject) =>
        client.forwardOut("127.0.0.1", 0, "127.0.0.1", 22, (error) => (error ? reject(error) : resolve(0))),
      );
      await expect(forward).rejects.toThrow();
      const listen = new Promise((resolve, reject) =>
        client.forwardIn("127.0.0.1", 0, (error) => (error ? reject(error) : resolve(0))),
      );
      await expect(listen).rejects.toThrow();
      expect((await exec(client, "echo still usable")).stdout).toBe("still usable\n");
    } finally {
      client.end();
    }
  });
});

describe("before cloud-init has run", () => {
  test("there are no users, so every login fails", async () => {
    const machine = await env.host.create({
      serverId: 2,
      name: "box-2",
      ipv4: "127.77.0.2",
      userData: cloudConfig(),
    });
    expect(machine.view().cloudInit.state).toBe("pending");
    await expect(connect(machine.view())).rejects.toThrow("authentication methods failed");
    await machine.destroy();
  });
});

describe("ssh_drop", () => {
  test("drops the next N connections to the targeted server only, then recovers", async () => {
    env.host.faults.add({ kind: "ssh_drop", times: 2, serverId: 1 });
    expect(env.host.faults.list()).toEqual([{ kind: "ssh_drop", times: 2, serverId: 1 }]);
    await expect(connect(view)).rejects.toThrow();
    await expect(connect(view)).rejects.toThrow();
    expect(env.host.faults.list()).toEqual([]);
    expect((await sshRun(view, "echo back")).stdout).toBe("back\n");
  });
});

describe("create", () => {
  test("gives a server a fresh disk even when a stale sandbox of the same id is left in dataDir", async () => {
    mkdirSync(join(env.dataDir, "6/etc/stale"), { recursive: true });
    const machine = await env.host.create({ serverId: 6, name: "box-6", ipv4: "127.77.0.6", userData: null });
    await machine.prepared;
    expect(existsSync(join(machine.view().sandboxDir, "etc/stale"))).toBe(false);
    expect(existsSync(join(machine.view().sandboxDir, "etc/passwd"))).toBe(true);
    await expect(
      env.host.create({ serverId: 6, name: "box-6", ipv4: "127.77.0.7", userData: null }),
    ).rejects.toThrow("already exists");
    await machine.destroy();
  });
});

describe("close", () => {
  test("also takes down a machine still being created, and refuses new ones", async () => {
    const closing = await startTestHost();
    const spec = { serverId: 8, name: "box-8", ipv4: "127.77.0.8", userData: null };
    const creating = closing.host.create(spec);
    await closing.host.close();
    try {
      await expect(creating).rejects.toThrow("closed");
      expect(await accepts(spec.ipv4, closing.sshPort)).toBe(false);
      await expect(closing.host.create({ ...spec, serverId: 9 })).rejects.toThrow("closed");
    } finally {
      await closing.cleanup();
    }
  });
});

describe("destroy", () => {
  test("during cloud-init stops it quietly and removes the sandbox", async () => {
    const slow = await startTestHost({ timeScale: 1, cloudInitMs: 60_000 });
    try {
      const machine = await slow.host.create({
        serverId: 5,
        name: "box-5",
        ipv4: "127.77.0.5",
        userData: cloudConfig(),
      });
      await machine.prepared;
      machine.boot();
      expect(machine.view().cloudInit.state).toBe("running");
      await machine.destroy();
      expect(machine.view().cloudInit.state).toBe("running");
      expect(existsSync(machine.view().sandboxDir)).toBe(false);
    } finally {
      await slow.cleanup();
    }
  });

  test("kills the machine's processes, frees its address and port, and removes its sandbox", async () => {
    const spec = { serverId: 3, name: "box-3", ipv4: "127.77.0.3", userData: cloudConfig() };
    const machine = await env.host.create(spec);
    const booted = await bootAndSettle(machine);
    const marker = `sim-marker-${process.pid}-${Date.now()}`;
    const client = await connect(booted);
    client.exec(`exec -a ${marker} sleep 600`, () => undefined);
    await waitFor("the marked process to start", () =>
      pidsWithMarker(marker).length > 0 ? true : undefined,
    );

    await machine.destroy();
    client.end();
    expect(pidsWithMarker(marker)).toEqual([]);
    expect(await accepts(spec.ipv4, env.sshPort)).toBe(false);
    expect(existsSync(booted.sandboxDir)).toBe(false);
    expect(env.host.get(3)).toBeUndefined();

    const again = await env.host.create({ ...spec, serverId: 4 });
    expect(await accepts(spec.ipv4, env.sshPort)).toBe(true);
    expect(again.view().hostKeyEd25519).not.toBe(booted.hostKeyEd25519);
    await again.destroy();
  });
});
