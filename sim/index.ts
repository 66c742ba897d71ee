/**
 * The local Hetzner Cloud simulator: a stateful loopback server speaking the Hetzner API under /v1,
 * with a fake machine (SSH + cloud-init) behind each server, fault injection and a time scale.
 */
import { createMachineHost } from "./machine/host.ts";
import { launchSimulator, type Simulator, type SimulatorOptions } from "./simulator.ts";

export { DEFAULT_TIMINGS, type SimTimings } from "./api/world.ts";
export type { SimFault } from "./faults.ts";
export type { MachineFault, MachineHost, MachineView } from "./machine/types.ts";
export type { SimRequestRecord } from "./request-log.ts";
export type { Simulator, SimulatorOptions } from "./simulator.ts";
export { SimulatorOptionsError } from "./simulator.ts";

/**
 * Starts a simulator on 127.0.0.1 with real fake machines; call `stop()` to release everything.
 * Rejects with SimulatorOptionsError naming every bad option.
 */
export function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  return launchSimulator(options, createMachineHost);
}
