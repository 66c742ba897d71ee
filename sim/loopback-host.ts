/**
 * The bookkeeping every loopback machine host shares (stand-in and machineless): one machine per server at a
 * 127.0.0.0/8 address, the armed faults, and a close that leaves no machine behind, even one still being made.
 */
import { MachineError } from "./machine/errors.ts";
import { MachineFaultBoard } from "./machine/faults.ts";
import type { Machine, MachineHost, MachineHostOptions, MachineSpec } from "./machine-contract.ts";

const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** What a host hands the machine it makes: the faults board and where the machine reports. */
export interface MachineHooks {
  faults: MachineFaultBoard;
  onError(error: Error): void;
  onDestroyed(): void;
}

/** A host whose machines `make` builds; `kind` names them in errors printed to stderr. */
export function createLoopbackHost(
  kind: string,
  options: MachineHostOptions,
  make: (spec: MachineSpec, hooks: MachineHooks) => Promise<Machine>,
): MachineHost {
  const onError =
    options.onError ?? ((error, serverId) => console.error(`[${kind} ${serverId}] ${error.message}`));
  const faults = new MachineFaultBoard();
  const machines = new Map<number, Machine>();
  const creating = new Set<number>();
  let closed = false;

  return {
    async create(spec) {
      if (closed) throw new MachineError("host_closed", "the machine host has been closed");
      if (!LOOPBACK_V4.test(spec.ipv4)) {
        throw new MachineError("invalid_spec", `machine address ${spec.ipv4} is not in 127.0.0.0/8`);
      }
      if (machines.has(spec.serverId) || creating.has(spec.serverId)) {
        throw new MachineError("machine_exists", `a machine for server ${spec.serverId} already exists`);
      }
      creating.add(spec.serverId);
      const machine = await make(spec, {
        faults,
        onError: (error) => onError(error, spec.serverId),
        onDestroyed: () => machines.delete(spec.serverId),
      }).finally(() => creating.delete(spec.serverId));
      machines.set(spec.serverId, machine);
      // close() ran while this machine was being made: it must not outlive the host.
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
