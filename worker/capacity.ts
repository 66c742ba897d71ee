/**
 * The worker's side of the capacity line: its settings from config, its gauges (waiting provisions,
 * servers used per project), and the wake at start, when a changed limit, cap or project list may have made room.
 */
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import { capacitySettingsOf, capacityView, waitingLine } from "../jobs/capacity/line.ts";
import { type CapacityDeps, wakeWaiting } from "../jobs/capacity/wake.ts";
import { brokerConnection, connectJobQueue } from "../queue/queue.ts";

/** The capacity settings the jobs get, signalling through `signal` (a job queue's). */
export function capacityFromConfig(
  config: Config,
  signal: CapacityDeps["capacity"]["signal"],
): CapacityDeps["capacity"] {
  return { maxServers: config.maxServers, waitTimeoutMs: config.capacityWaitTimeoutMs, signal };
}

export function registerCapacityMetrics(metrics: MetricsRegistry, db: Db, config: Config): void {
  metrics.gauge({
    name: "provisions_waiting_for_capacity",
    help: "Paid provisions parked until a Hetzner project has room for their server.",
    collect: (gauge) => gauge.set({}, waitingLine(db).length),
  });
  const projects = () => capacityView(db, capacitySettingsOf(config));
  metrics.gauge({
    name: "hetzner_project_servers",
    help: "Servers held per Hetzner project (a server, or a provision let through).",
    labelNames: ["project"],
    collect: (gauge) => {
      for (const p of projects()) gauge.set({ project: p.project }, p.used);
    },
  });
  metrics.gauge({
    name: "hetzner_project_server_limit",
    help: "Each Hetzner project's configured server limit (absent while unknown).",
    labelNames: ["project"],
    collect: (gauge) => {
      for (const p of projects()) if (p.limit !== null) gauge.set({ project: p.project }, p.limit);
    },
  });
}

/** Wakes the waiters the room now allows (the config may have raised a limit or added a project). */
export async function wakeWaitingAtStart(config: Config, db: Db, log: Logger): Promise<void> {
  const queue = connectJobQueue({ ...brokerConnection(config), db });
  try {
    const capacity = capacityFromConfig(config, queue.signal);
    const woken = await wakeWaiting({ db, projects: { all: config.hcloudProjects }, capacity });
    if (woken > 0) log.info({ woken }, "provisions waiting for capacity woken at start");
  } finally {
    await queue.close();
  }
}
