/**
 * The lab: a network namespace this run creates for itself, with a bridge at 10.0.0.1/8. Each
 * container machine gets a namespace of its own whose eth0 is a veth on that bridge, so its
 * connections come from its own address. Every address lives inside namespaces made here; nothing
 * is added to the host's interfaces, and closing the lab deletes every namespace (and with it every
 * veth and the bridge).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type RelayEndpoint, relay } from "../socket-pair.ts";
import { run } from "./command.ts";
import { ContainerHostError } from "./errors.ts";
import { formatEndpoint } from "./relay.ts";
import { sweepStaleLabs } from "./sweep.ts";

/** The bridge's address: where anything the machines must reach listens (phone_home, bundles). */
export const LAB_GATEWAY = "10.0.0.1";
const LAB_PREFIX = 8;
const BRIDGE = "br0";
/** The interface name inside each machine, as on a Hetzner server. */
const MACHINE_INTERFACE = "eth0";

const RELAY_SCRIPT = join(import.meta.dir, "relay.ts");
const LOOPBACK = "127.0.0.1";
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
  /**
   * Makes each of this host's 127.0.0.1 ports reachable at the same port on the lab's 127.0.0.1 (e.g. the
   * simulator's API), or on `address` (the gateway, for the machines).
   */
  exposeHostPorts(ports: number[], address?: string): Promise<void>;
  /** Makes each of the lab's 127.0.0.1 ports reachable at the same port on this host's 127.0.0.1 (e.g. services run in the lab). */
  publishLabPorts(ports: number[]): Promise<void>;
  /** Makes a machine's namespace with `address` on a veth to the bridge; returns the namespace's path. */
  attach(machine: string, address: string): Promise<string>;
  /** Deletes a machine's namespace (its veth goes with it). Idempotent. */
  detach(machine: string): Promise<void>;
  /** Stops what the lab started and deletes every namespace it made. Idempotent. */
  close(): Promise<void>;
}

const NETNS_DIR = "/run/netns";

/** Sweeps what killed simulators left (see sweep.ts), then makes a lab named after this process. */
export async function createLab(): Promise<Lab> {
  await sweepStaleLabs();
  const tag = `rsim-${process.pid}-${randomBytes(3).toString("hex")}`;
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
  /** This host's ends of lab crossings. */
  readonly #servers: Server[] = [];
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
    const path = this.#socketPath();
    await this.#startRelay([[{ path }, { host, port }]]);
    return path;
  }

  async exposeHostPorts(ports: number[], address = LOOPBACK): Promise<void> {
    const crossings = ports.map((port) => ({ port, path: this.#socketPath() }));
    for (const { port, path } of crossings)
      this.#servers.push(await relay({ path }, { host: LOOPBACK, port }));
    await this.#startRelay(crossings.map(({ port, path }) => [{ host: address, port }, { path }]));
  }

  async publishLabPorts(ports: number[]): Promise<void> {
    const crossings = ports.map((port) => ({ port, path: this.#socketPath() }));
    await this.#startRelay(crossings.map(({ port, path }) => [{ path }, { host: LOOPBACK, port }]));
    for (const { port, path } of crossings)
      this.#servers.push(await relay({ host: LOOPBACK, port }, { path }));
  }

  #socketPath(): string {
    return join(this.socketDir, `relay-${this.#nextRelay++}.sock`);
  }

  /** One relay process inside the lab serving every mapping; resolves once it listens on all. */
  async #startRelay(mappings: [RelayEndpoint, RelayEndpoint][]): Promise<void> {
    const args = mappings.map(([from, to]) => `${formatEndpoint(from)}>${formatEndpoint(to)}`);
    const child = this.spawn(["bun", RELAY_SCRIPT, ...args], { stdout: "pipe" });
    const ready = (async () => {
      const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      if (!new TextDecoder().decode(value).startsWith("ready"))
        throw new ContainerHostError(
          "command_failed",
          `the lab relay (${args.join(" ")}) exited before listening`,
        );
    })();
    const timeout = Bun.sleep(RELAY_START_MS).then(() => {
      throw new ContainerHostError(
        "command_failed",
        `the lab relay (${args.join(" ")}) did not start in time`,
      );
    });
    try {
      await Promise.race([ready, timeout]);
    } catch (error) {
      child.kill();
      throw error;
    }
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
    for (const server of this.#servers) server.close();
    await Promise.all([...this.#machines].map((machine) => this.detach(machine)));
    await run(["ip", "netns", "delete", this.netns]);
    await rm(this.socketDir, { recursive: true, force: true });
  }

  #machineNetns(machine: string): string {
    return `${this.netns}-${machine}`;
  }
}
