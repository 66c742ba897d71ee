/**
 * The lab: a network namespace this run creates for itself, with a bridge at 10.0.0.1/8. Each
 * container machine gets a namespace of its own whose eth0 is a veth on that bridge, so its
 * connections come from its own address. Every address lives inside namespaces made here; nothing
 * is added to the host's interfaces, and closing the lab deletes every namespace (and with it every
 * veth and the bridge).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { run } from "./command.ts";
import { ContainerHostError } from "./errors.ts";

/** The bridge's address: where anything the machines must reach listens (phone_home, bundles). */
export const LAB_GATEWAY = "10.0.0.1";
const LAB_PREFIX = 8;
const BRIDGE = "br0";
/** The interface name inside each machine, as on a Hetzner server. */
const MACHINE_INTERFACE = "eth0";

const RELAY_SCRIPT = join(import.meta.dir, "relay.ts");
/** How long a relay may take to start listening. */
const RELAY_START_MS = 10_000;

export interface LabSpawnOptions {
  /** Default: inherited from this process. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  stdout?: "pipe" | "inherit" | "ignore";
  stderr?: "pipe" | "inherit" | "ignore";
}

export interface Lab {
  /** Name of the lab's namespace under /run/netns. */
  readonly netns: string;
  readonly gateway: string;
  /** The lab address of the machine behind a pool address: 127.A.B.C becomes 10.A.B.C. */
  addressFor(poolAddress: string): string;
  /** The argv that runs `argv` inside the lab (for processes this module does not start). */
  command(argv: string[]): string[];
  /** Starts a process inside the lab; it is stopped (SIGTERM) when the lab closes, if still running. */
  spawn(argv: string[], options?: LabSpawnOptions): Subprocess;
  /**
   * A Unix socket in this host's filesystem that leads to `host:port` inside the lab, so a process
   * outside the lab (a test) can reach a machine's sshd. Its peer inside the lab is the gateway.
   */
  forward(host: string, port: number): Promise<string>;
  /** Makes a machine's namespace with `address` on a veth to the bridge; returns the namespace's path. */
  attach(machine: string, address: string): Promise<string>;
  /** Deletes a machine's namespace (its veth goes with it). Idempotent. */
  detach(machine: string): Promise<void>;
  /** Stops what the lab started and deletes every namespace it made. Idempotent. */
  close(): Promise<void>;
}

const NETNS_DIR = "/run/netns";

export async function createLab(): Promise<Lab> {
  const tag = `rsim-${randomBytes(3).toString("hex")}`;
  await run(["ip", "netns", "add", tag]);
  try {
    await run(["ip", "-n", tag, "link", "set", "lo", "up"]);
    await run(["ip", "-n", tag, "link", "add", BRIDGE, "type", "bridge"]);
    await run(["ip", "-n", tag, "addr", "add", `${LAB_GATEWAY}/${LAB_PREFIX}`, "dev", BRIDGE]);
    await run(["ip", "-n", tag, "link", "set", BRIDGE, "up"]);
    return new NetnsLab(tag, await mkdtemp(join(tmpdir(), `${tag}-`)));
  } catch (error) {
    await run(["ip", "netns", "delete", tag]).catch(() => undefined);
    throw error;
  }
}

class NetnsLab implements Lab {
  readonly gateway = LAB_GATEWAY;
  readonly #processes = new Set<Subprocess>();
  readonly #machines = new Set<string>();
  #closed: Promise<void> | null = null;
  #nextRelay = 1;

  constructor(
    readonly netns: string,
    private readonly socketDir: string,
  ) {}

  addressFor(poolAddress: string): string {
    const octets = poolAddress.split(".");
    if (octets.length !== 4 || octets[0] !== "127")
      throw new ContainerHostError("invalid_spec", `${poolAddress} is not a 127.0.0.0/8 pool address`);
    return ["10", ...octets.slice(1)].join(".");
  }

  command(argv: string[]): string[] {
    return ["nsenter", `--net=${join(NETNS_DIR, this.netns)}`, "--", ...argv];
  }

  spawn(argv: string[], options: LabSpawnOptions = {}): Subprocess {
    if (this.#closed) throw new ContainerHostError("host_closed", "the lab has been closed");
    const child = Bun.spawn(this.command(argv), {
      env: options.env,
      cwd: options.cwd,
      stdin: "ignore",
      stdout: options.stdout ?? "inherit",
      stderr: options.stderr ?? "inherit",
    });
    this.#processes.add(child);
    void child.exited.then(() => this.#processes.delete(child));
    return child;
  }

  async forward(host: string, port: number): Promise<string> {
    const path = join(this.socketDir, `relay-${this.#nextRelay++}.sock`);
    const relay = this.spawn(["bun", RELAY_SCRIPT, path, host, String(port)], { stdout: "pipe" });
    const ready = (async () => {
      const reader = (relay.stdout as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      if (!new TextDecoder().decode(value).startsWith("ready"))
        throw new ContainerHostError(
          "command_failed",
          `the relay to ${host}:${port} exited before listening`,
        );
    })();
    const timeout = Bun.sleep(RELAY_START_MS).then(() => {
      throw new ContainerHostError("command_failed", `the relay to ${host}:${port} did not start in time`);
    });
    try {
      await Promise.race([ready, timeout]);
    } catch (error) {
      relay.kill();
      throw error;
    }
    return path;
  }

  async attach(machine: string, address: string): Promise<string> {
    const netns = this.#machineNetns(machine);
    const veth = `v${machine}`.slice(0, 15);
    await run(["ip", "netns", "add", netns]);
    this.#machines.add(machine);
    await run(["ip", "-n", netns, "link", "set", "lo", "up"]);
    await run([
      "ip",
      "-n",
      this.netns,
      "link",
      "add",
      veth,
      "type",
      "veth",
      "peer",
      "name",
      MACHINE_INTERFACE,
      "netns",
      netns,
    ]);
    await run(["ip", "-n", this.netns, "link", "set", veth, "master", BRIDGE, "up"]);
    await run(["ip", "-n", netns, "addr", "add", `${address}/${LAB_PREFIX}`, "dev", MACHINE_INTERFACE]);
    await run(["ip", "-n", netns, "link", "set", MACHINE_INTERFACE, "up"]);
    await run(["ip", "-n", netns, "route", "add", "default", "via", LAB_GATEWAY]);
    return join(NETNS_DIR, netns);
  }

  async detach(machine: string): Promise<void> {
    if (!this.#machines.delete(machine)) return;
    await run(["ip", "netns", "delete", this.#machineNetns(machine)]);
  }

  close(): Promise<void> {
    this.#closed ??= this.#teardown();
    return this.#closed;
  }

  async #teardown(): Promise<void> {
    const processes = [...this.#processes];
    for (const child of processes) child.kill("SIGTERM");
    await Promise.all(processes.map((child) => child.exited));
    await Promise.all([...this.#machines].map((machine) => this.detach(machine)));
    await run(["ip", "netns", "delete", this.netns]);
    await rm(this.socketDir, { recursive: true, force: true });
  }

  #machineNetns(machine: string): string {
    return `${this.netns}-${machine}`;
  }
}
