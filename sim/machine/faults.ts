import type { MachineFault } from "../machine-contract.ts";

/** What cloud-init should do about phone_home on one machine, per the armed faults. */
export interface PhoneHomePlan {
  never: boolean;
  /** Extra wait before the first attempt, in real (unscaled) ms. */
  delayMs: number;
}

/**
 * The faults armed on a MachineHost. phone_home faults stay armed until cleared; `ssh_drop` is used up
 * one connection at a time.
 */
export class MachineFaultBoard {
  #faults: MachineFault[] = [];

  add(fault: MachineFault): void {
    this.#faults.push(fault.kind === "ssh_drop" ? { ...fault, times: fault.times ?? 1 } : { ...fault });
  }

  clear(): void {
    this.#faults = [];
  }

  list(): MachineFault[] {
    return this.#faults.map((fault) => ({ ...fault }));
  }

  /** True when a connection to `serverId` should be dropped now; consumes one use of the fault. */
  takeSshDrop(serverId: number): boolean {
    const index = this.#faults.findIndex((fault) => fault.kind === "ssh_drop" && appliesTo(fault, serverId));
    const fault = this.#faults[index];
    if (fault?.kind !== "ssh_drop") return false;
    const left = (fault.times ?? 1) - 1;
    if (left <= 0) this.#faults.splice(index, 1);
    else this.#faults[index] = { ...fault, times: left };
    return true;
  }

  /** True when the machine loses the bundle's Claude Code CLI once runcmd has run. */
  claudeCliMissing(serverId: number): boolean {
    return this.#faults.some((fault) => fault.kind === "claude_cli_missing" && appliesTo(fault, serverId));
  }

  phoneHomePlan(serverId: number): PhoneHomePlan {
    const applying = this.#faults.filter((fault) => appliesTo(fault, serverId));
    return {
      never: applying.some((fault) => fault.kind === "phone_home_never"),
      delayMs: Math.max(
        0,
        ...applying.map((fault) => (fault.kind === "phone_home_late" ? fault.delayMs : 0)),
      ),
    };
  }
}

function appliesTo(fault: MachineFault, serverId: number): boolean {
  return fault.serverId === undefined || fault.serverId === serverId;
}
