import { createLoopbackHost } from "../loopback-host.ts";
import type { MachineHost, MachineHostOptions } from "../machine-contract.ts";
import { createMachine } from "./machine.ts";
import { prepareSandboxParent, sandboxIdentity } from "./sandbox/sandbox.ts";

/**
 * Creates the host of all fake machines. When a box's namespaces cannot be made, its machine still gets
 * SSH, but its disk fails: logins are refused and cloud-init reports why (nothing ever runs unsandboxed).
 * `dataDir` is created if missing (see `prepareSandboxParent` for the permission it may add).
 */
export function createMachineHost(options: MachineHostOptions): MachineHost {
  prepareSandboxParent(options.dataDir);
  const isolation = sandboxIdentity();
  return createLoopbackHost("sim machine", options, (spec, hooks) =>
    createMachine(spec, { ...options, ...hooks, isolation }),
  );
}
