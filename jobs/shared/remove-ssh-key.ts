/** Deleting an instance's SSH key at Hetzner: the provision compensation and the deprovision step share it. */

import type { Db } from "../../db/index.ts";
import { isOwnedBy, resourceNameFor } from "../../domain/ownership.ts";
import type { HetznerClient } from "../../hetzner/index.ts";
import { clientOf, type HetznerProjects } from "../capacity/projects.ts";
import { loadInstance, updateInstance } from "./instance-row.ts";

/**
 * Deletes the key by id, or (when the id never got stored, e.g. a crash right after the upload) by our
 * name if its labels say it is ours. Already gone counts as done. Clears sshKeyId.
 */
export async function deleteInstanceSshKey(
  deps: { db: Db; projects: HetznerProjects; now?: () => number },
  instanceId: string,
  signal: AbortSignal,
): Promise<void> {
  const hetzner = clientOf(deps, instanceId);
  const known = loadInstance(deps.db, instanceId).sshKeyId;
  const id = known ?? (await findOwnKeyId(hetzner, instanceId, signal));
  if (id !== null) await hetzner.sshKeys.delete(id, { signal });
  updateInstance(deps.db, instanceId, { sshKeyId: null }, (deps.now ?? Date.now)());
}

async function findOwnKeyId(hetzner: HetznerClient, instanceId: string, signal: AbortSignal) {
  const [key] = await hetzner.sshKeys.listAll({ name: resourceNameFor(instanceId), signal });
  return key && isOwnedBy(key.labels, instanceId) ? key.id : null;
}
