/** Deleting an instance's server at Hetzner: the provision compensation and the deprovision step share it. */
import type { Db } from "../../../db/index.ts";
import type { HetznerClient } from "../../../hetzner/index.ts";
import { loadInstance, updateInstance } from "./instance-row.ts";
import { isOwnedBy, resourceNameFor } from "./ownership.ts";

export interface DeleteServerOptions {
  signal: AbortSignal;
  /**
   * Wait for delete_server to finish, so the name is free and billing has stopped before we report done.
   * The first (and, on time, only) poll comes after `expectedDeletionMs`.
   */
  awaitDeletion: boolean;
  /** How long Hetzner takes to delete a server, in ms; default 5000. */
  expectedDeletionMs?: number;
  /** Bound of the wait for delete_server, in ms; default 300000. */
  deletionTimeoutMs?: number;
}

/**
 * Deletes the server by its stored id, or (when the id never got stored, e.g. a crash between the create
 * and its persist) by our name if its labels say it is ours. Already gone counts as done. Clears the id.
 */
export async function deleteInstanceServer(
  deps: { db: Db; hetzner: HetznerClient; now?: () => number },
  instanceId: string,
  opts: DeleteServerOptions,
): Promise<void> {
  const { signal } = opts;
  const known = loadInstance(deps.db, instanceId).hetznerServerId;
  const id = known ?? (await findOwnServerId(deps.hetzner, instanceId, signal));
  const action = id === null ? null : await deps.hetzner.servers.delete(id, { signal });
  if (action && opts.awaitDeletion) {
    const expectedMs = opts.expectedDeletionMs ?? 5_000;
    await deps.hetzner.actions.waitFor([action.id], {
      signal,
      pollIntervalMs: expectedMs,
      maxPollIntervalMs: Math.max(expectedMs, 5_000),
      timeoutMs: opts.deletionTimeoutMs ?? 300_000,
    });
  }
  // A later server starts without any Claude credentials of ours.
  updateInstance(
    deps.db,
    instanceId,
    { hetznerServerId: null, claudeCredentialsVersion: null },
    (deps.now ?? Date.now)(),
  );
}

/** Our server by its name, when its labels say it is this instance's; null when there is none. */
export async function findOwnServerId(hetzner: HetznerClient, instanceId: string, signal: AbortSignal) {
  const [server] = await hetzner.servers.listAll({ name: resourceNameFor(instanceId), signal });
  return server && isOwnedBy(server.labels, instanceId) ? server.id : null;
}
