/**
 * The process_* metrics from prom-client's default set that report the truth under Bun, measured under
 * Bun 1.4.5 against /proc/self: CPU seconds (counted from when the registry was made), resident and virtual
 * memory, start time, open and maximum file descriptors. Left out, because there they are false:
 * process_heap_bytes (VmData, gigabytes of address space JavaScriptCore reserves), nodejs_eventloop_lag_*
 * (the gauge stays 0; the histogram counts a sleeping timer as lag), nodejs_active_handles/requests/resources
 * (0 with timers pending), nodejs_heap_space_* (JavaScriptCore has no V8 spaces: zeros), nodejs_gc_* (never
 * observed) and nodejs_version_info (the Node version Bun imitates).
 */

import { Registry } from "prom-client";
import registerOsMemory from "prom-client/lib/metrics/osMemoryHeap.js";
import registerCpu from "prom-client/lib/metrics/processCpuTotal.js";
import registerMaxFds from "prom-client/lib/metrics/processMaxFileDescriptors.js";
import registerOpenFds from "prom-client/lib/metrics/processOpenFileDescriptors.js";
import registerStartTime from "prom-client/lib/metrics/processStartTime.js";

const TRUE_UNDER_BUN: readonly string[] = [
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_start_time_seconds",
  "process_open_fds",
  "process_max_fds",
];

/** Adds the true process_* metrics to `registry`; prom-client registers some only in bundles, so take those. */
export function registerProcessMetrics(registry: Registry): void {
  const all = new Registry();
  for (const register of [
    registerCpu,
    registerOsMemory,
    registerStartTime,
    registerOpenFds,
    registerMaxFds,
  ]) {
    register(all, {});
  }
  for (const name of TRUE_UNDER_BUN) {
    const metric = all.getSingleMetric(name);
    if (metric !== undefined) registry.registerMetric(metric);
  }
}
