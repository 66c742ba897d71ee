/**
 * The host of machineless servers (machine.ts): a map and the armed faults, nothing else. Of the machine
 * faults, all apply: phone_home_never, phone_home_late, ssh_drop and claude_cli_missing.
 */
import { MachineError } from "../machine/errors.ts";
import { MachineFaultBoard } from "../machine/faults.ts";
import type { Machine, MachineHost, MachineHostOptions } from "../machine-contract.ts";
import { createMachinelessMachine } from "./machine.ts";

const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function createMachinelessHost(options: MachineHostOptions): MachineHost {
  const onError = options.onError ?? reportToStderr;
  const faults = new MachineFaultBoard();
  const machines = new Map<number, Machine>();
  const creating = new Set<number>();
  let closed = false;
  return {
    async create(spec) {
      if (closed) throw new MachineError("host_closed", "the machine host has been closed");
      if (!LOOPBACK_V4.test(spec.ipv4))
        throw new MachineError("invalid_spec", `machine address ${spec.ipv4} is not in 127.0.0.0/8`);
      if (machines.has(spec.serverId) || creating.has(spec.serverId))
        throw new MachineError("machine_exists", `a machine for server ${spec.serverId} already exists`);
      creating.add(spec.serverId);
      const machine = await createMachinelessMachine(spec, {
        sshPort: options.sshPort,
        timeScale: options.timeScale,
        cloudInitMs: options.cloudInitMs,
        faults,
        onError: (error) => onError(error, spec.serverId),
        onDestroyed: () => machines.delete(spec.serverId),
      }).finally(() => creating.delete(spec.serverId));
      machines.set(spec.serverId, machine);
      if (closed) {
        await machine.destroy();
        throw new MachineError("host_closed", "the machine host was closed while the machine was created");
      }
      return machine;
    },
    get: (serverId) => machines.get(serverId),
    list: () => [...machines.values()],
    faults: {
      add: (fault) => faults.add(fault),
      clear: () => faults.clear(),
      list: () => faults.list(),
    },
    async close() {
      closed = true;
      await Promise.all([...machines.values()].map((machine) => machine.destroy()));
    },
  };
}

function reportToStderr(error: Error, serverId: number): void {
  console.error(`[sim machineless ${serverId}] ${error.message}`);
}
