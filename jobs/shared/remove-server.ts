/** Deleting an instance's server at Hetzner: the provision compensation and the deprovision step share it. */
import type { Db } from "../../db/index.ts";
import { isOwnedBy, resourceNameFor } from "../../domain/ownership.ts";
import { HetznerActionError, type HetznerClient, isHetznerError } from "../../hetzner/index.ts";
import { clientOf, type HetznerProjects } from "../capacity/projects.ts";
import { loadInstance, updateInstance } from "./instance-row.ts";

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
  deps: { db: Db; projects: HetznerProjects; now?: () => number },
  instanceId: string,
  opts: DeleteServerOptions,
): Promise<void> {
  const { signal } = opts;
  const hetzner = clientOf(deps, instanceId);
  const known = loadInstance(deps.db, instanceId).hetznerServerId;
  const id = known ?? (await findOwnServerId(hetzner, instanceId, signal));
  if (id !== null) await deleteServerById(hetzner, id, opts);
  // A later server starts without any Claude credentials of ours.
  updateInstance(
    deps.db,
    instanceId,
    { hetznerServerId: null, claudeCredentialsVersion: null },
    (deps.now ?? Date.now)(),
  );
}

/** DELETE /servers/{id}, then (if asked) the wait for its delete_server action; already gone counts as done. */
export async function deleteServerById(
  hetzner: HetznerClient,
  serverId: number,
  opts: DeleteServerOptions,
): Promise<void> {
  const { signal } = opts;
  const action = await deleteWhenUnlocked(hetzner, serverId, opts);
  if (action && opts.awaitDeletion) {
    const expectedMs = opts.expectedDeletionMs ?? 5_000;
    await hetzner.actions.waitFor([action.id], {
      signal,
      pollIntervalMs: expectedMs,
      maxPollIntervalMs: Math.max(expectedMs, 5_000),
      timeoutMs: opts.deletionTimeoutMs ?? 300_000,
    });
  }
}

/**
 * A server is locked while an action runs on it: its create (75 s at Hetzner) or start. The client's own
 * retries cover seconds; past them, wait for the server's running actions (a failed one is fine: the server
 * is deleted either way) and delete again.
 */
async function deleteWhenUnlocked(hetzner: HetznerClient, serverId: number, opts: DeleteServerOptions) {
  const { signal } = opts;
  try {
    return await hetzner.servers.delete(serverId, { signal });
  } catch (err) {
    if (!isHetznerError(err, "locked")) throw err;
  }
  const running = (await hetzner.servers.actions(serverId, { signal })).filter(
    (action) => action.status === "running",
  );
  await hetzner.actions
    .waitFor(
      running.map((action) => action.id),
      { signal, timeoutMs: opts.deletionTimeoutMs ?? 300_000 },
    )
    .catch((err: unknown) => {
      if (!(err instanceof HetznerActionError)) throw err;
    });
  return hetzner.servers.delete(serverId, { signal });
}

/** Our server by its name, when its labels say it is this instance's; null when there is none. */
export async function findOwnServerId(hetzner: HetznerClient, instanceId: string, signal: AbortSignal) {
  const [server] = await hetzner.servers.listAll({ name: resourceNameFor(instanceId), signal });
  return server && isOwnedBy(server.labels, instanceId) ? server.id : null;
}
