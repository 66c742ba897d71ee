/**
 * What a simulator killed outright (SIGKILL, a crashed test run) left behind: its lab and machine
 * namespaces, named `rsim-<pid>-…` after the process that made them, and the containers and lab
 * processes still living in them. A new lab sweeps them first, so one crash never leaks into the next run.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { run } from "./command.ts";

const NETNS_DIR = "/run/netns";
const OWNED_NAME = /^rsim-(\d+)-[0-9a-f]+(-\d+)?$/;
const HALT_WAIT_MS = 15_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The namespaces named by this module whose simulator process is gone. */
function staleNamespaces(): string[] {
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
  return names.filter((name) => {
    const owner = OWNED_NAME.exec(name)?.[1];
    return owner !== undefined && Number(owner) !== process.pid && !isAlive(Number(owner));
  });
}

/** Every process and the network namespace it is in ("net:[inode]"). */
function processNetworks(): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      found.set(pid, readlinkSync(`/proc/${pid}/ns/net`));
    } catch {
      // Gone meanwhile, or a kernel thread.
    }
  }
  return found;
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function commandOf(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
}

/**
 * The processes to stop for the namespaces `nets`: each process that entered one from outside —
 * or, for a container's init, the systemd-nspawn that runs it (SIGTERM makes it halt the container).
 */
function entryProcesses(nets: Set<string>, networks: Map<number, string>): number[] {
  const targets = new Set<number>();
  for (const [pid, net] of networks) {
    if (!nets.has(net)) continue;
    try {
      const parent = parentOf(pid);
      if (nets.has(networks.get(parent) ?? "")) continue;
      targets.add(commandOf(parent) === "systemd-nspawn" ? parent : pid);
    } catch {
      // Exited while we looked.
    }
  }
  return [...targets];
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** Stops what lives in stale namespaces and deletes them; returns their names. */
export async function sweepStaleLabs(): Promise<string[]> {
  const stale = staleNamespaces();
  if (stale.length === 0) return [];
  const nets = new Set(stale.map((name) => `net:[${statSync(join(NETNS_DIR, name)).ino}]`));
  const targets = entryProcesses(nets, processNetworks());
  for (const pid of targets) signal(pid, "SIGTERM");
  const deadline = performance.now() + HALT_WAIT_MS;
  while (targets.some(isAlive) && performance.now() < deadline) await Bun.sleep(100);
  for (const pid of targets.filter(isAlive)) signal(pid, "SIGKILL");
  for (const name of stale) await run(["ip", "netns", "delete", name]).catch(() => undefined);
  return stale;
}
