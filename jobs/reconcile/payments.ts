/** Payment state against the fleet: paid customers get an instance, cancelled customers lose their server. */
import { DEPROVISION_OPERATION } from "../deprovision/operation.ts";
import { type Fleet, hasActiveOperation } from "./fleet.ts";
import type { Decision, ObservedInstance } from "./types.ts";

/** Instances in these statuses neither serve a paid customer nor need a deprovision. */
const ENDED_STATUSES: readonly string[] = ["deprovisioned"];
/** A cancelled customer's instances in these statuses are already being torn down, or left to the zombie sweep. */
const NOT_TO_DEPROVISION: readonly string[] = ["deprovisioning", "deprovisioned", "failed"];

/** True when the instance is (or will be) the customer's: anything but ended, or a `new` row no request ever followed. */
function servesCustomer(instance: ObservedInstance): boolean {
  if (ENDED_STATUSES.includes(instance.status)) return false;
  return !(instance.status === "new" && instance.operation === null);
}

function isBeingDeprovisioned(instance: ObservedInstance): boolean {
  return instance.operation?.operation === DEPROVISION_OPERATION && hasActiveOperation(instance);
}

function deprovisionDecisions(fleet: Fleet, customerId: string): Decision[] {
  const decisions: Decision[] = [];
  for (const instance of fleet.instancesOf(customerId)) {
    if (NOT_TO_DEPROVISION.includes(instance.status) || isBeingDeprovisioned(instance)) continue;
    const servers = fleet.serversOf(instance.id);
    if (servers.length === 0) continue;
    decisions.push({
      kind: "enqueue-deprovision",
      customerId,
      instanceId: instance.id,
      reason: `customer ${customerId} cancelled but instance ${instance.id} still has server ${servers.map((s) => s.id).join(", ")}`,
    });
  }
  return decisions;
}

function provisionDecision(fleet: Fleet, customerId: string): Decision | null {
  const instances = fleet.instancesOf(customerId);
  if (instances.some(servesCustomer)) return null;
  // A `new` row without an operation is what a crash between creating the instance and enqueueing leaves.
  const orphan = instances.find((i) => i.status === "new") ?? null;
  return {
    kind: "enqueue-provision",
    customerId,
    instanceId: orphan?.id ?? null,
    reason: `customer ${customerId} paid but has no instance and no provision job`,
  };
}

export function paymentDecisions(fleet: Fleet): Decision[] {
  const decisions: Decision[] = [];
  for (const customer of fleet.state.customers) {
    if (customer.payment === "cancelled") {
      decisions.push(...deprovisionDecisions(fleet, customer.id));
      continue;
    }
    const provision = provisionDecision(fleet, customer.id);
    if (provision) decisions.push(provision);
  }
  return decisions;
}
