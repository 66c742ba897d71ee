/**
 * The real simulator API with no fake machine behind its servers: a fleet of hundreds of servers in a
 * second, for sweeps that only list and delete (no SSH, no cloud-init). Used by the fleet test and the bench.
 */
import type { Machine, MachineHost, MachineSpec, MachineView } from "../../sim/machine-contract.ts";
import { launchSimulator, type Simulator, type SimulatorOptions } from "../../sim/simulator.ts";

/** A machine that never boots: its view says so, and there is nothing to destroy. */
export function idleMachine(spec: MachineSpec): Machine {
  const view: MachineView = {
    serverId: spec.serverId,
    name: spec.name,
    address: spec.ipv4,
    sshPort: 0,
    hostKeyEd25519: "",
    sandboxDir: "",
    userData: spec.userData,
    cloudInit: {
      state: "pending",
      error: null,
      phoneHome: { url: null, attempts: 0, lastStatus: null, deliveredAt: null },
    },
  };
  return { serverId: spec.serverId, view: () => view, boot: () => undefined, destroy: async () => {} };
}

/** A machine host whose machines `machineFor` makes: no SSH, no disk, no cloud-init of their own. */
export function standInMachineHost(machineFor: (spec: MachineSpec) => Machine): MachineHost {
  const machines = new Map<number, Machine>();
  return {
    async create(spec) {
      const machine = machineFor(spec);
      machines.set(spec.serverId, machine);
      return machine;
    },
    get: (serverId) => machines.get(serverId),
    list: () => [...machines.values()],
    faults: { add: () => undefined, clear: () => undefined, list: () => [] },
    async close() {
      machines.clear();
    },
  };
}

export function startMachinelessSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  return launchSimulator(options, () => standInMachineHost(idleMachine));
}
