/**
 * Adoption after a restore: a serving instance whose saved server is gone, while exactly one other server
 * carries its labels (or name), was moved to that server after the snapshot (a reprovision); the database is
 * what is out of date, so the instance takes that server instead of being marked lost and the server deleted.
 */
import type { Fleet } from "./fleet.ts";
import { type Decision, SERVING_STATUSES, type SweepState } from "./types.ts";

type Adoption = Extract<Decision, { kind: "adopt-server" }>;

export function adoptionDecisions(fleet: Fleet): Adoption[] {
  const decisions: Adoption[] = [];
  for (const instance of fleet.state.instances) {
    if (!SERVING_STATUSES.includes(instance.status)) continue;
    const saved = instance.hetznerServerId;
    if (saved !== null && fleet.serverIds.has(saved)) continue;
    const candidates = fleet.serversOf(instance.id).filter((server) => server.status !== "deleting");
    // Two or more candidates: which one serves is not knowable from here; the operator decides.
    const [server] = candidates;
    if (server === undefined || candidates.length !== 1) continue;
    decisions.push({
      kind: "adopt-server",
      serverId: server.id,
      instanceId: instance.id,
      previousServerId: saved,
      reason: `instance ${instance.id} is ${instance.status} on server ${saved ?? "(none saved)"}, gone since the restored snapshot; server ${server.name} (${server.id}) carries its labels, so it is adopted`,
    });
  }
  return decisions;
}

/** The state as it will be once the adoptions are applied. */
export function withAdoptions(state: SweepState, adoptions: readonly Adoption[]): SweepState {
  if (adoptions.length === 0) return state;
  const adopted = new Map(adoptions.map((a) => [a.instanceId, a.serverId]));
  return {
    ...state,
    instances: state.instances.map((instance) => {
      const serverId = adopted.get(instance.id);
      return serverId === undefined ? instance : { ...instance, hetznerServerId: serverId };
    }),
  };
}
