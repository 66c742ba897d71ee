/**
 * Fault injection: armed failures the API consults on each request (errors, dropped connections,
 * unavailable locations, the server limit, failing actions). Machine faults pass through to the
 * MachineHost, which applies them to SSH and cloud-init.
 */
import { z } from "zod";
import type { MachineFault, MachineHost } from "./machine-contract.ts";

/** How many matching events a fault affects; Infinity keeps it armed until removed. */
const times = z.union([z.number().int().positive(), z.literal(Infinity), z.literal("Infinity")]).optional();

/** The control API's body for POST /_sim/faults; `times` may be the string "Infinity" in JSON. */
const simFaultSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("error"),
    method: z.string().optional(),
    path: z.string().optional(),
    status: z.number().int().min(400).max(599),
    code: z.string().min(1),
    message: z.string().optional(),
    times,
  }),
  z.object({ kind: z.literal("drop"), method: z.string().optional(), path: z.string().optional(), times }),
  z.object({
    kind: z.literal("location_unavailable"),
    location: z.string().min(1),
    serverType: z.string().min(1).optional(),
  }),
  z.object({ kind: z.literal("server_limit") }),
  z.object({
    kind: z.literal("action_error"),
    command: z.enum(["create_server", "start_server", "delete_server"]),
    times,
  }),
  z.object({ kind: z.literal("phone_home_never"), serverId: z.number().int().optional() }),
  z.object({
    kind: z.literal("phone_home_late"),
    delayMs: z.number().nonnegative(),
    serverId: z.number().int().optional(),
  }),
  z.object({
    kind: z.literal("ssh_drop"),
    times: z.number().int().positive().optional(),
    serverId: z.number().int().optional(),
  }),
  z.object({ kind: z.literal("claude_cli_missing"), serverId: z.number().int().optional() }),
]);

export type SimFault =
  /** The next `times` (default 1, Infinity allowed) matching requests answer with this Hetzner error. */
  | {
      kind: "error";
      method?: string;
      /** Path template, e.g. "/servers/{id}"; absent matches every path. */
      path?: string;
      status: number;
      code: string;
      message?: string;
      times?: number;
    }
  /** The next matching requests get their connection closed without a response. */
  | { kind: "drop"; method?: string; path?: string; times?: number }
  /**
   * POST /servers in this location answers 412 resource_unavailable until removed: for every server type,
   * or only for `serverType` (that type sold out there, as Hetzner's capacity runs out per type).
   */
  | { kind: "location_unavailable"; location: string; serverType?: string }
  /** POST /servers answers 403 resource_limit_exceeded ("server limit exceeded") until removed. */
  | { kind: "server_limit" }
  /** The next `times` actions with this command end in status "error" (error code "action_failed"). */
  | { kind: "action_error"; command: "create_server" | "start_server" | "delete_server"; times?: number }
  | MachineFault;

/** Turns a parsed control-API body into a SimFault (JSON cannot carry Infinity, so "Infinity" stands in). */
export function faultFromJson(body: unknown): SimFault {
  const parsed = simFaultSchema.parse(body);
  if ("times" in parsed && parsed.times === "Infinity") return { ...parsed, times: Infinity };
  return parsed as SimFault;
}

export type RequestFault = Extract<SimFault, { kind: "error" | "drop" }>;

const MACHINE_KINDS = new Set(["phone_home_never", "phone_home_late", "ssh_drop", "claude_cli_missing"]);

function isMachineFault(fault: SimFault): fault is MachineFault {
  return MACHINE_KINDS.has(fault.kind);
}

export class FaultRegistry {
  private readonly armed = new Map<string, SimFault>();
  private nextId = 1;

  constructor(private readonly machines: MachineHost) {}

  add(fault: SimFault): string {
    const id = `f${this.nextId++}`;
    this.armed.set(id, { ...fault });
    if (isMachineFault(fault)) this.machines.faults.add(fault);
    return id;
  }

  remove(id: string): void {
    const fault = this.armed.get(id);
    this.armed.delete(id);
    // The MachineHost can only clear all faults, so re-arm the machine faults that remain.
    if (fault && isMachineFault(fault)) this.rearmMachineFaults();
  }

  clear(): void {
    this.armed.clear();
    this.machines.faults.clear();
  }

  list(): SimFault[] {
    return [...this.armed.values()].map((f) => ({ ...f }));
  }

  entries(): { id: string; fault: SimFault }[] {
    return [...this.armed].map(([id, fault]) => ({ id, fault: { ...fault } }));
  }

  /** The first error or drop armed for this request, spending one of its `times`. */
  takeRequestFault(method: string, template: string): RequestFault | null {
    for (const [id, fault] of this.armed) {
      if (fault.kind !== "error" && fault.kind !== "drop") continue;
      if (fault.method && fault.method.toUpperCase() !== method) continue;
      if (fault.path && fault.path !== template) continue;
      this.spend(id, fault);
      return fault;
    }
    return null;
  }

  locationUnavailable(location: string, serverType: string): boolean {
    return this.list().some(
      (f) =>
        f.kind === "location_unavailable" &&
        f.location === location &&
        (f.serverType === undefined || f.serverType === serverType),
    );
  }

  serverLimitReached(): boolean {
    return this.list().some((f) => f.kind === "server_limit");
  }

  /** True (and one use spent) when the next action with this command must fail. */
  takeActionError(command: string): boolean {
    for (const [id, fault] of this.armed) {
      if (fault.kind !== "action_error" || fault.command !== command) continue;
      this.spend(id, fault);
      return true;
    }
    return false;
  }

  private spend(id: string, fault: { times?: number }): void {
    const left = (fault.times ?? 1) - 1;
    if (left <= 0) this.armed.delete(id);
    else fault.times = left;
  }

  private rearmMachineFaults(): void {
    this.machines.faults.clear();
    for (const fault of this.armed.values()) if (isMachineFault(fault)) this.machines.faults.add(fault);
  }
}
