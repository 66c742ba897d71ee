import type { Machine, MachineHost, MachineHostOptions } from "../machine-contract.ts";
import { MachineError } from "./errors.ts";
import { MachineFaultBoard } from "./faults.ts";
import { createMachine } from "./machine.ts";
import { prepareSandboxParent, sandboxIdentity } from "./sandbox/sandbox.ts";

const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Creates the host of all fake machines. When a box's namespaces cannot be made, its machine still gets
 * SSH, but its disk fails: logins are refused and cloud-init reports why (nothing ever runs unsandboxed).
 * `dataDir` is created if missing (see `prepareSandboxParent` for the permission it may add).
 */
export function createMachineHost(options: MachineHostOptions): MachineHost {
  const onError = options.onError ?? reportToStderr;
  const faults = new MachineFaultBoard();
  const machines = new Map<number, Machine>();
  const creating = new Set<number>();
  let closed = false;
  prepareSandboxParent(options.dataDir);
  const isolation = sandboxIdentity();

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
      const machine = await createMachine(spec, {
        ...options,
        isolation,
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

function reportToStderr(error: Error, serverId: number): void {
  console.error(`[sim machine ${serverId}] ${error.message}`);
}
