/** Links what Hetzner lists to the instances the database records, once per sweep, so each rule looks up in O(1). */
import type { PaymentState } from "../../db/schema.ts";
import { activeOperationStatuses } from "../../domain/operations.ts";
import { isOwnedBy, resourceNameFor } from "../../domain/ownership.ts";
import type { ObservedInstance, ObservedServer, SweepState } from "./types.ts";

/** Who a server belongs to: the instance found, and the instance id its labels claim (even when unknown). */
export interface ServerOwner {
  instance: ObservedInstance | null;
  claimedInstanceId: string | null;
}

export interface Fleet {
  state: SweepState;
  serverIds: ReadonlySet<number>;
  ownerOf(server: ObservedServer): ServerOwner;
  /** Servers linked to the instance by saved id, labels or name. */
  serversOf(instanceId: string): readonly ObservedServer[];
  paymentOf(customerId: string | null): PaymentState | null;
  instancesOf(customerId: string): readonly ObservedInstance[];
}

/** True while the instance's newest operation is unfinished (queued, running or parked). */
export function hasActiveOperation(instance: ObservedInstance): boolean {
  return instance.operation !== null && activeOperationStatuses.includes(instance.operation.status);
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string | null): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    if (key === null) continue;
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

export function indexFleet(state: SweepState): Fleet {
  const byId = new Map(state.instances.map((i) => [i.id, i]));
  const byServerId = new Map<number, ObservedInstance>();
  for (const i of state.instances) if (i.hetznerServerId !== null) byServerId.set(i.hetznerServerId, i);
  const byName = new Map(state.instances.map((i) => [resourceNameFor(i.id), i]));
  const payments = new Map(state.customers.map((c) => [c.id, c.payment]));
  const byCustomer = groupBy(state.instances, (i) => i.customerId);

  function ownerOf(server: ObservedServer): ServerOwner {
    const saved = byServerId.get(server.id);
    if (saved) return { instance: saved, claimedInstanceId: saved.id };
    // A crash between create and saving the id leaves only the labels and the deterministic name.
    const labelled = server.labels.instance;
    if (labelled !== undefined && isOwnedBy(server.labels, labelled)) {
      return { instance: byId.get(labelled) ?? null, claimedInstanceId: labelled };
    }
    const named = byName.get(server.name) ?? null;
    return { instance: named, claimedInstanceId: named?.id ?? null };
  }

  const byOwner = groupBy(state.servers, (s) => ownerOf(s).instance?.id ?? null);
  return {
    state,
    serverIds: new Set(state.servers.map((s) => s.id)),
    ownerOf,
    serversOf: (instanceId) => byOwner.get(instanceId) ?? [],
    paymentOf: (customerId) => (customerId === null ? null : (payments.get(customerId) ?? null)),
    instancesOf: (customerId) => byCustomer.get(customerId) ?? [],
  };
}
