/**
 * The host of machineless servers (machine.ts): a map and the armed faults, nothing else. Of the machine
 * faults, all apply: phone_home_never, phone_home_late, ssh_drop and claude_cli_missing.
 */
import { createLoopbackHost } from "../loopback-host.ts";
import type { MachineHost, MachineHostOptions } from "../machine-contract.ts";
import { createMachinelessMachine } from "./machine.ts";

export function createMachinelessHost(options: MachineHostOptions): MachineHost {
  return createLoopbackHost("sim machineless", options, (spec, hooks) =>
    createMachinelessMachine(spec, {
      sshPort: options.sshPort,
      timeScale: options.timeScale,
      cloudInitMs: options.cloudInitMs,
      ...hooks,
    }),
  );
}
