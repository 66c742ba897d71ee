/**
 * CPU time (user + system) of process trees, read from /proc (Linux only, like the simulator's sandbox),
 * so a benchmark can say where a run's CPU went: its own process, the services it started, or the
 * processes the simulated machines ran.
 */
import { readdirSync, readFileSync } from "node:fs";

/** /proc reports CPU times in clock ticks of USER_HZ, which Linux fixes at 100 per second. */
const MS_PER_TICK = 10;

/** One process as /proc/<pid>/stat shows it, times in ms. */
export interface ProcessCpu {
  pid: number;
  ppid: number;
  /** Its own user + system time. */
  ownMs: number;
  /** User + system time of its children that exited and were waited for. */
  reapedChildrenMs: number;
}

/** Every process this user may read, now; processes that vanish while being read are skipped. */
export function readProcesses(): ProcessCpu[] {
  const processes: ProcessCpu[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    const [, ppid = 0, , , , , , , , , , utime = 0, stime = 0, cutime = 0, cstime = 0] = fields;
    processes.push({
      pid: Number(entry),
      ppid,
      ownMs: (utime + stime) * MS_PER_TICK,
      reapedChildrenMs: (cutime + cstime) * MS_PER_TICK,
    });
  }
  return processes;
}

/**
 * CPU ms used so far by `root` and everything it started (exited ones included, once waited for),
 * leaving out the subtrees rooted at `excluded`.
 */
export function treeCpuMs(
  processes: readonly ProcessCpu[],
  root: number,
  excluded: readonly number[] = [],
): number {
  const children = new Map<number, ProcessCpu[]>();
  for (const entry of processes) {
    const siblings = children.get(entry.ppid) ?? [];
    siblings.push(entry);
    children.set(entry.ppid, siblings);
  }
  let total = 0;
  const pending = processes.filter((entry) => entry.pid === root);
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (excluded.includes(next.pid)) continue;
    total += next.ownMs + next.reapedChildrenMs;
    pending.push(...(children.get(next.pid) ?? []));
  }
  return total;
}
