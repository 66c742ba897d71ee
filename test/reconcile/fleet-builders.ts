/** Builders of observed sweep states, and the effect of applying decisions, for the tick tests. */
import { ownershipLabels, resourceNameFor } from "../../domain/ownership.ts";
import type {
  Decision,
  ObservedCustomer,
  ObservedInstance,
  ObservedOperation,
  ObservedServer,
  SweepPolicy,
  SweepState,
} from "../../jobs/reconcile/types.ts";

export const NOW = Date.UTC(2026, 10, 26, 6, 0, 0);
export const HOUR_MS = 3_600_000;
export const POLICY: SweepPolicy = { zombieGraceMs: 600_000, stuckAfterMs: 900_000, reprovisionLost: false };

export function server(id: number, instanceId: string, over: Partial<ObservedServer> = {}): ObservedServer {
  return {
    id,
    name: resourceNameFor(instanceId),
    labels: ownershipLabels(instanceId),
    status: "running",
    deleteProtected: false,
    createdAt: NOW - HOUR_MS,
    ...over,
  };
}

export function op(instanceId: string, over: Partial<ObservedOperation> = {}): ObservedOperation {
  const operation = over.operation ?? "provision";
  return {
    id: `${operation}:${instanceId}:1`,
    operation,
    status: "succeeded",
    updatedAt: NOW - HOUR_MS,
    waitDeadline: null,
    ...over,
  };
}

export function instance(id: string, over: Partial<ObservedInstance> = {}): ObservedInstance {
  return { id, customerId: `c-${id}`, status: "ready", hetznerServerId: null, operation: op(id), ...over };
}

export function customer(id: string, payment: ObservedCustomer["payment"]): ObservedCustomer {
  return { id, payment };
}

export function sweepState(
  over: Partial<Omit<SweepState, "liveJobIds">> & { liveJobIds?: string[] },
): SweepState {
  return {
    servers: over.servers ?? [],
    instances: over.instances ?? [],
    customers: over.customers ?? [],
    liveJobIds: new Set(over.liveJobIds ?? []),
  };
}

/** `n` paid customers, each with a ready instance on a running server and a finished provision. */
export function healthyFleet(n: number): SweepState {
  const ids = Array.from({ length: n }, (_, k) => `i${String(k).padStart(12, "0")}`);
  return sweepState({
    servers: ids.map((id, k) => server(1000 + k, id)),
    instances: ids.map((id, k) => instance(id, { hetznerServerId: 1000 + k })),
    customers: ids.map((id) => customer(`c-${id}`, "paid")),
  });
}

function queued(instanceId: string, operation: string, now: number): ObservedOperation {
  return op(instanceId, { id: `${operation}:${instanceId}:2`, operation, status: "queued", updatedAt: now });
}

type Mutable = { servers: ObservedServer[]; instances: ObservedInstance[]; liveJobIds: Set<string> };

function applyOne(s: Mutable, d: Decision, now: number): void {
  const patch = (id: string, change: (i: ObservedInstance) => ObservedInstance) => {
    s.instances = s.instances.map((i) => (i.id === id ? change(i) : i));
  };
  const enqueue = (id: string, operation: string) => {
    const next = queued(id, operation, now);
    s.liveJobIds.add(next.id);
    patch(id, (i) => ({ ...i, operation: next }));
  };
  switch (d.kind) {
    case "adopt-server":
      patch(d.instanceId, (i) => ({ ...i, hetznerServerId: d.serverId }));
      break;
    case "delete-zombie-server":
      s.servers = s.servers.filter((x) => x.id !== d.serverId);
      break;
    case "report-protected-server":
      break;
    case "mark-instance-lost":
      patch(d.instanceId, (i) => ({ ...i, status: "lost" }));
      break;
    case "resume-operation":
      s.liveJobIds.add(d.operationId);
      patch(d.instanceId, (i) => (i.operation ? { ...i, operation: { ...i.operation, updatedAt: now } } : i));
      break;
    case "fail-operation":
      patch(d.instanceId, (i) =>
        i.operation ? { ...i, status: "failed", operation: { ...i.operation, status: "failed" } } : i,
      );
      break;
    case "enqueue-deprovision":
      enqueue(d.instanceId, "deprovision");
      break;
    case "enqueue-provision": {
      const id = d.instanceId ?? `i-new-${d.customerId}`;
      if (d.instanceId === null) {
        s.instances.push(instance(id, { customerId: d.customerId, status: "new", operation: null }));
      }
      enqueue(id, "provision");
      break;
    }
  }
}

/** The state the next sweep would observe once an executor applied the decisions, in order. */
export function applyDecisions(state: SweepState, decisions: readonly Decision[], now: number): SweepState {
  const s: Mutable = {
    servers: [...state.servers],
    instances: [...state.instances],
    liveJobIds: new Set(state.liveJobIds),
  };
  for (const d of decisions) applyOne(s, d, now);
  return { ...state, servers: s.servers, instances: s.instances, liveJobIds: s.liveJobIds };
}

/** A decision as `kind subject`, so each table row states what it expects in one line. */
export function brief(d: Decision): string {
  switch (d.kind) {
    case "adopt-server":
      return `${d.kind} ${d.instanceId} ${d.serverId}`;
    case "delete-zombie-server":
    case "report-protected-server":
      return `${d.kind} ${d.serverId}`;
    case "mark-instance-lost":
      return `${d.kind} ${d.instanceId}`;
    case "fail-operation":
    case "resume-operation":
      return `${d.kind} ${d.operationId}`;
    case "enqueue-deprovision":
      return `${d.kind} ${d.instanceId}`;
    case "enqueue-provision":
      return `${d.kind} ${d.customerId} ${d.instanceId ?? "-"}`;
  }
}
