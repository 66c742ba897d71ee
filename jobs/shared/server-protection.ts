/**
 * Hetzner's delete protection on an instance's server: set once the customer is served, lifted only by a
 * deprovision (or the rollback of the provision that set it). One change_protection request each way.
 */
import { z } from "zod";
import type { Db } from "../../db/index.ts";
import { isHetznerError } from "../../hetzner/index.ts";
import { clientOf, type HetznerProjects } from "../capacity/projects.ts";
import { loadInstance } from "./instance-row.ts";
import { findOwnServerId } from "./remove-server.ts";

/** What the protection change applied to: the server, or null when the instance has none at Hetzner. */
export const protectionOutcomeSchema = z.object({ serverId: z.number().int().nullable() });
export type ProtectionOutcome = z.infer<typeof protectionOutcomeSchema>;

/**
 * Turns the delete (and, as Hetzner requires, rebuild) protection of the instance's server on or off.
 * Idempotent: setting the value it already has is accepted; a server already gone counts as done.
 */
export async function setDeleteProtection(
  deps: { db: Db; projects: HetznerProjects },
  instanceId: string,
  enabled: boolean,
  signal: AbortSignal,
): Promise<ProtectionOutcome> {
  const hetzner = clientOf(deps, instanceId);
  const known = loadInstance(deps.db, instanceId).hetznerServerId;
  const serverId = known ?? (await findOwnServerId(hetzner, instanceId, signal));
  if (serverId === null) return { serverId: null };
  try {
    const action = await hetzner.servers.changeProtection(
      serverId,
      { delete: enabled, rebuild: enabled },
      { signal },
    );
    // Hetzner usually answers with the action finished; a running one is awaited so a delete right after is not refused.
    if (action.status === "running")
      await hetzner.actions.waitFor([action.id], { signal, timeoutMs: 60_000 });
  } catch (err) {
    if (isHetznerError(err, "not_found")) return { serverId: null };
    throw err;
  }
  return { serverId };
}
