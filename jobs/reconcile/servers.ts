/** Drift between Hetzner's servers and the instances: zombies to delete (or report, when protected), serving instances whose server is gone. */
import { DEPROVISION_OPERATION } from "../deprovision/operation.ts";
import { PROVISION_OPERATION } from "../provision/operation.ts";
import { type Fleet, hasActiveOperation, type ServerOwner } from "./fleet.ts";
import {
  type Decision,
  LOST_STATUS,
  type ObservedInstance,
  type ObservedServer,
  SERVING_STATUSES,
  type SweepPolicy,
} from "./types.ts";

/** Operations after whose failure an instance should have no server: a provision rolled back, a teardown. */
const SERVERLESS_AFTER_FAILURE: readonly string[] = [PROVISION_OPERATION, DEPROVISION_OPERATION];

/** Failed, nothing running, and the failure was one that leaves no server (not, say, a reconfigure). */
function failedWithoutServer(instance: ObservedInstance): boolean {
  if (instance.status !== "failed" || hasActiveOperation(instance)) return false;
  return instance.operation === null || SERVERLESS_AFTER_FAILURE.includes(instance.operation.operation);
}

/** Why the server is owned by nobody, or null while an instance still owns it (or will adopt it). */
function zombieReason(server: ObservedServer, owner: ServerOwner): string | null {
  const { instance, claimedInstanceId } = owner;
  if (instance === null) {
    return claimedInstanceId === null
      ? "labelled managed-by rachel-provisioner but names no instance"
      : `its instance ${claimedInstanceId} does not exist in the database`;
  }
  if (instance.status === "deprovisioned") return `its instance ${instance.id} is deprovisioned`;
  if (failedWithoutServer(instance)) {
    return `its instance ${instance.id} failed and its rollback left this server behind`;
  }
  if (
    SERVING_STATUSES.includes(instance.status) &&
    instance.hetznerServerId !== null &&
    instance.hetznerServerId !== server.id
  ) {
    return `its instance ${instance.id} is ${instance.status} on server ${instance.hetznerServerId}; this one is a duplicate`;
  }
  return null;
}

export function zombieDecisions(fleet: Fleet, now: number, policy: SweepPolicy): Decision[] {
  const decisions: Decision[] = [];
  for (const server of fleet.state.servers) {
    // A create still in flight has not saved its id yet; the grace period keeps the sweep from racing it.
    if (now - server.createdAt < policy.zombieGraceMs) continue;
    // Deletion is an async action at Hetzner; a server already deleting must not be deleted twice.
    if (server.status === "deleting") continue;
    const owner = fleet.ownerOf(server);
    const why = zombieReason(server, owner);
    if (why === null) continue;
    const subject = { serverId: server.id, serverName: server.name, instanceId: owner.claimedInstanceId };
    // Protection is set once a customer is ready and lifted only by their deprovision: a protected "zombie"
    // means this decision or the database is wrong, and deleting a paying customer's server is irreversible.
    decisions.push(
      server.deleteProtected
        ? {
            kind: "report-protected-server",
            ...subject,
            reason: `server ${server.name} (${server.id}) looks like a zombie (${why}) but is delete-protected; left for an operator`,
          }
        : {
            kind: "delete-zombie-server",
            ...subject,
            reason: `server ${server.name} (${server.id}) is a zombie: ${why}`,
          },
    );
  }
  return decisions;
}

function isServingWithoutServer(fleet: Fleet, instance: ObservedInstance): boolean {
  if (!SERVING_STATUSES.includes(instance.status) || hasActiveOperation(instance)) return false;
  return instance.hetznerServerId === null || !fleet.serverIds.has(instance.hetznerServerId);
}

function reprovisionDecision(fleet: Fleet, instance: ObservedInstance): Decision | null {
  const customerId = instance.customerId;
  if (customerId === null || fleet.paymentOf(customerId) === "cancelled") return null;
  return {
    kind: "enqueue-provision",
    customerId,
    instanceId: instance.id,
    reason: `instance ${instance.id} lost its server; the policy re-provisions lost instances`,
  };
}

export function lostDecisions(fleet: Fleet, policy: SweepPolicy): Decision[] {
  const decisions: Decision[] = [];
  for (const instance of fleet.state.instances) {
    const newlyLost = isServingWithoutServer(fleet, instance);
    if (newlyLost) {
      decisions.push({
        kind: "mark-instance-lost",
        instanceId: instance.id,
        serverId: instance.hetznerServerId,
        reason: `instance ${instance.id} is ${instance.status} but its server ${instance.hetznerServerId ?? "(none saved)"} is gone at Hetzner`,
      });
    }
    const lost = newlyLost || (instance.status === LOST_STATUS && !hasActiveOperation(instance));
    if (!lost || !policy.reprovisionLost) continue;
    const reprovision = reprovisionDecision(fleet, instance);
    if (reprovision) decisions.push(reprovision);
  }
  return decisions;
}
