/**
 * A server created through the simulator's HTTP API boots a real Debian 13 container: real cloud-init
 * reads our user-data, creates the user, phones home from the container's own lab address with the host
 * key real sshd presents, and deleting the server leaves no process, namespace, veth or mount behind.
 * Needs root, debootstrap and systemd-container (.ci/install-tools); in CI it runs, never skips.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { connect as connectUnix } from "node:net";
import { join } from "node:path";
import { Client } from "ssh2";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { missingContainerRequirements } from "../../sim/container/requirements.ts";
import { ensureRootfs, rootfsPath } from "../../sim/container/rootfs.ts";
import { ContainerMachine, type Simulator, startSimulator } from "../../sim/index.ts";
import { runCommand } from "../support/run-command.ts";

const inCi = process.env.CI === "true";
const missing = missingContainerRequirements();
/** First build of the root filesystem (~60-80 s) plus a boot, on a loaded 2-core machine. */
const BUILD_TIMEOUT_MS = 10 * 60_000;
const BOOT_TIMEOUT_MS = 180_000;
const LISTENER = join(import.meta.dir, "../support/lab-listener.ts");

interface Request {
  method: string;
  path: string;
  peer: string | null;
  body: string;
  at: number;
}

/** The lab listener's JSON lines, as they arrive. */
function collectLines(stream: ReadableStream<Uint8Array>): unknown[] {
  const lines: unknown[] = [];
  void (async () => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
    }
  })();
  return lines;
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** Runs one command over SSH through `socketPath`, accepting only `hostKeyLine` from the server. */
function sshExec(socketPath: string, hostKeyLine: string, user: string, key: string, command: string) {
  const pinned = Buffer.from(hostKeyLine.split(/\s+/)[1] ?? "", "base64");
  return new Promise<{ code: number; stdout: string }>((resolve, reject) => {
    const client = new Client();
    client.on("error", reject);
    client.on("ready", () =>
      client.exec(command, (err, channel) => {
        if (err) return reject(err);
        let stdout = "";
        channel.on("data", (data: Buffer) => {
          stdout += data.toString();
        });
        channel.stderr.on("data", () => undefined);
        channel.on("close", (code: number) => {
          client.end();
          resolve({ code, stdout });
        });
      }),
    );
    client.connect({
      sock: connectUnix(socketPath),
      username: user,
      privateKey: key,
      algorithms: { serverHostKey: ["ssh-ed25519"] },
      hostVerifier: (presented: Buffer) => presented.equals(pinned),
      readyTimeout: 20_000,
    });
  });
}

function userData(phoneHomeUrl: string, publicKey: string): string {
  return [
    "#cloud-config",
    "manage_etc_hosts: true",
    "users:",
    "  - name: rachel",
    "    shell: /bin/bash",
    "    sudo: ALL=(ALL) NOPASSWD:ALL",
    "    ssh_authorized_keys:",
    `      - ${publicKey}`,
    "write_files:",
    "  - path: /etc/rachel/provisioned-by",
    "    permissions: '0640'",
    "    content: rachel-provisioner\n",
    "runcmd:",
    "  - [sh, -c, 'echo ran > /var/lib/rachel-runcmd']",
    "phone_home:",
    `  url: ${phoneHomeUrl}`,
    "  post: [pub_key_ed25519, instance_id, hostname]",
    "  tries: 10",
    "",
  ].join("\n");
}

describe.skipIf(missing.length > 0 && !inCi)("container machines: a real Debian 13 boot", () => {
  let sim: Simulator;
  let listener: ReturnType<typeof collectLines>;
  let listenerPort: number;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`container machines need: ${missing.join("; ")}`);
    const cached = existsSync(rootfsPath());
    const started = performance.now();
    const root = await ensureRootfs();
    const size = (await runCommand(["du", "-sh", root])).stdout.split("\t")[0];
    console.log(
      `rootfs ${cached ? "cached" : `built in ${((performance.now() - started) / 1000).toFixed(1)} s`}, ${size}: ${root}`,
    );
    // Per server: Debian 13 servers boot for real, the rest get stand-ins.
    sim = await startSimulator({
      machines: (spec) => (spec.image === "debian-13" ? "container" : "stand-in"),
      timeScale: 0.01,
    });
    const lab = sim.lab;
    if (!lab) throw new Error("a simulator with container machines has a lab");
    const child = lab.spawn(["bun", LISTENER, lab.gateway], { stdout: "pipe" });
    listener = collectLines(child.stdout as ReadableStream<Uint8Array>);
    listenerPort = await waitFor("the lab listener", 10_000, () => (listener[0] as { port?: number })?.port);
  }, BUILD_TIMEOUT_MS);

  let stopped = false;
  afterAll(async () => {
    if (!stopped) await sim?.stop();
  }, 60_000);

  async function createServer(name: string, image: string, userData: string | null) {
    const response = await fetch(`${sim.endpoint}/servers`, {
      method: "POST",
      headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name, server_type: "cx23", image, location: "nbg1", user_data: userData }),
    });
    expect(response.status).toBe(201);
    const { server } = (await response.json()) as {
      server: { id: number; public_net: { ipv4: { ip: string } } };
    };
    return { id: server.id, address: server.public_net.ipv4.ip };
  }

  test(
    "boots with real cloud-init, phones home from its own address with sshd's key, and leaves nothing when deleted",
    async () => {
      const lab = sim.lab;
      if (!lab) throw new Error("no lab");
      const user = generateSshKeyPair("lane@test");
      const headers = { authorization: `Bearer ${sim.token}` };
      const createdAt = performance.now();
      const server = await createServer(
        "rachel-lane-1",
        "debian-13",
        userData(`http://${lab.gateway}:${listenerPort}/callback`, user.publicKey),
      );
      const address = server.address;
      expect(address).toMatch(/^10\.\d+\.\d+\.\d+$/);

      const machine = sim.machines.get(server.id);
      if (!(machine instanceof ContainerMachine)) throw new Error("server is not backed by a container");
      await machine.prepared;
      const preparedMs = performance.now() - createdAt;
      const callback = await waitFor("phone_home", BOOT_TIMEOUT_MS, () =>
        (listener.slice(1) as Request[]).find((line) => line.path === "/callback"),
      );
      const bootedAt = machine.bootedAt ?? Number.NaN;
      const form = new URLSearchParams(callback.body);
      expect(callback.peer).toBe(address);
      expect(form.get("instance_id")).toBe(String(server.id));
      expect(form.get("hostname")).toBe("rachel-lane-1");
      const postedKey = (form.get("pub_key_ed25519") ?? "").trim();
      expect(postedKey).toMatch(/^ssh-ed25519 AAAA\S+ root@rachel-lane-1$/);

      const socket = await lab.forward(address, sim.sshPort);
      const status = await sshExec(
        socket,
        postedKey,
        "rachel",
        user.privateKey,
        "cloud-init status --long --wait",
      );
      expect(status.stdout).toContain("status: done");
      expect(status.stdout).toContain("errors: []");
      const checks = await sshExec(
        socket,
        postedKey,
        "rachel",
        user.privateKey,
        "hostname; sudo -n cat /var/lib/rachel-runcmd; sudo -n stat -c '%a %U' /etc/rachel/provisioned-by; systemctl is-system-running --wait",
      );
      expect(checks.stdout).toBe("rachel-lane-1\nran\n640 root\nrunning\n");
      const analyze = await machine.exec(["systemd-analyze", "time"]).catch((err: Error) => err.message);
      const cloudInitTimes = JSON.parse(await machine.exec(["cat", "/run/cloud-init/status.json"])) as {
        v1: Record<string, { start?: number; finished?: number } | null>;
      };
      const stages = Object.values(cloudInitTimes.v1).filter((s) => s !== null && typeof s === "object");
      const starts = stages.map((s) => s?.start).filter((t): t is number => typeof t === "number");
      const ends = stages.map((s) => s?.finished).filter((t): t is number => typeof t === "number");
      console.log(
        `container: disk and network prepared in ${preparedMs.toFixed(0)} ms; phone_home ${((callback.at - (performance.timeOrigin + bootedAt)) / 1000).toFixed(1)} s after nspawn started; ` +
          `cloud-init's own time ${(Math.max(...ends) - Math.min(...starts)).toFixed(1)} s; ${analyze.trim()}`,
      );

      const nspawnPid = machine.nspawnPid;
      const machineDir = join(machine.upperDir, "..");
      const machineNetns = `${lab.netns}-${server.id}`;
      expect(nspawnPid).not.toBeNull();
      expect((await runCommand(["ip", "netns", "list"])).stdout).toContain(machineNetns);
      const deleted = await fetch(`${sim.endpoint}/servers/${server.id}`, { method: "DELETE", headers });
      expect(deleted.status).toBe(200);
      await waitFor("the server to be gone", 60_000, async () => {
        const got = await fetch(`${sim.endpoint}/servers/${server.id}`, { headers });
        return got.status === 404 ? true : undefined;
      });
      expect(existsSync(`/proc/${nspawnPid}`)).toBe(false);
      expect((await runCommand(["ip", "netns", "list"])).stdout).not.toContain(machineNetns);
      expect((await runCommand(lab.command(["ip", "-o", "link"]))).stdout).not.toContain(`v${server.id}`);
      expect(readFileSync("/proc/mounts", "utf8")).not.toContain(machineDir);
      expect(existsSync(machineDir)).toBe(false);
      expect(sim.machines.list()).toHaveLength(0);
    },
    BOOT_TIMEOUT_MS + 120_000,
  );

  test(
    "servers of other images get stand-ins; a stopped simulator leaves no container, namespace or file",
    async () => {
      const lab = sim.lab;
      if (!lab) throw new Error("no lab");
      const standIn = await createServer("rachel-standin-1", "ubuntu-24.04", null);
      expect(standIn.address).toMatch(/^127\./);
      expect(sim.machines.get(standIn.id)).not.toBeInstanceOf(ContainerMachine);

      const booted = await createServer("rachel-lane-2", "debian-13", "#cloud-config\n");
      const machine = sim.machines.get(booted.id);
      if (!(machine instanceof ContainerMachine)) throw new Error("server is not backed by a container");
      await waitFor("cloud-init to finish", BOOT_TIMEOUT_MS, () =>
        machine.view().cloudInit.state === "done" ? true : undefined,
      );
      const nspawnPid = machine.nspawnPid;
      const dataDir = join(machine.upperDir, "../..");
      expect(nspawnPid).not.toBeNull();

      stopped = true;
      await sim.stop();
      expect(existsSync(`/proc/${nspawnPid}`)).toBe(false);
      expect((await runCommand(["ip", "netns", "list"])).stdout).not.toContain(lab.netns);
      expect(readFileSync("/proc/mounts", "utf8")).not.toContain(dataDir);
      expect(existsSync(dataDir)).toBe(false);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );
});
