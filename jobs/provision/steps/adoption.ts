/**
 * Whether create-server may adopt the server it found under the instance's name, or must replace it. Pure:
 * the step gathers the facts (the server, its actions, the instance's callback) and acts on the verdict.
 * Waiting on a server that will never phone home costs a whole cloud-init deadline, so only a server that
 * can still phone home (or already did, its callback unconsumed) is kept.
 */
import type { Action, Server } from "../../../hetzner/index.ts";

/** The actions whose failure leaves a server that will never boot. */
export const BOOT_COMMANDS: ReadonlySet<string> = new Set(["create_server", "start_server"]);

/** Statuses of a server that is booting or up; anything else (off, stopping, …) will not phone home. */
const LIVE_STATUSES: ReadonlySet<Server["status"]> = new Set(["initializing", "starting", "running"]);

export interface AdoptionFacts {
  server: Pick<Server, "id" | "status" | "created">;
  /** The server's actions (GET /servers/{id}/actions). */
  actions: readonly Pick<Action, "command" | "status" | "error">[];
  /** This server's cloud-init callback: not received, received and waiting to be used, or used by a wait. */
  callback: "none" | "pending" | "consumed";
  /** The longest one boot may take to phone home (the cloud-init deadline), in ms. */
  bootMs: number;
  /** Epoch ms. */
  now: number;
}

export type AdoptionVerdict = { keep: true } | { keep: false; reason: string };

export function judgeAdoption(facts: AdoptionFacts): AdoptionVerdict {
  const { server } = facts;
  const failed = facts.actions.find((a) => BOOT_COMMANDS.has(a.command) && a.status === "error");
  if (failed) {
    const detail = failed.error ? `${failed.error.code}: ${failed.error.message}` : "no detail";
    return { keep: false, reason: `its ${failed.command} failed (${detail})` };
  }
  if (!LIVE_STATUSES.has(server.status)) {
    return { keep: false, reason: `it is ${server.status}, so it will not phone home` };
  }
  if (facts.callback === "pending") return { keep: true };
  if (facts.callback === "consumed") {
    return { keep: false, reason: "it phoned home to an earlier run, and cloud-init will not run again" };
  }
  const ageMs = facts.now - Date.parse(server.created);
  if (ageMs >= facts.bootMs) {
    return {
      keep: false,
      reason: `it never phoned home within ${facts.bootMs} ms of its creation; cloud-init will not run again`,
    };
  }
  return { keep: true };
}
