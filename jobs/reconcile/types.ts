/**
 * What one reconcile sweep sees and what it decides.
 *
 * Glossary: a *sweep* is one pass that compares Hetzner, the database and the broker; the *state* is what
 * it observed; a *decision* is one corrective action with the reason an operator reads; a *zombie* is a
 * server of ours that nobody owns any more (deleted unless its delete protection is on: then reported); a *lost* instance was ready but its server is gone.
 * Timestamps are epoch milliseconds.
 */
import type { OperationStatus, PaymentState } from "../../db/schema.ts";
import type { Server } from "../../hetzner/schemas.ts";

/** A Hetzner server carrying our `managed-by` label, as listed by the sweep. */
export interface ObservedServer {
  id: number;
  name: string;
  labels: Readonly<Record<string, string>>;
  status: Server["status"];
  /** Hetzner's delete protection is on: only a deprovision lifts it, so the sweep never deletes such a server. */
  deleteProtected: boolean;
  /** When Hetzner created it (its `created` field), epoch ms. */
  createdAt: number;
}

/** The newest operation recorded on an instance. */
export interface ObservedOperation {
  /** Also the broker job id. */
  id: string;
  /** `provision`, `deprovision`, … */
  operation: string;
  status: OperationStatus;
  updatedAt: number;
  /** Deadline of the durable wait it is parked on, epoch ms; null when it is not waiting. */
  waitDeadline: number | null;
}

export interface ObservedInstance {
  id: string;
  customerId: string | null;
  /** An InstanceStatus, a runner's running status, or `lost`. */
  status: string;
  hetznerServerId: number | null;
  /** Newest operation of any kind; null when none was ever recorded. */
  operation: ObservedOperation | null;
}

export interface ObservedCustomer {
  id: string;
  /** As the payment webhooks recorded it: paid while any of the customer's subscriptions is. */
  payment: PaymentState;
}

/** An open restore hold (see restore-hold.ts); times in epoch ms. */
export interface RestoreHold {
  id: string;
  restoredAt: number;
  snapshotTakenAt: number;
}

export interface SweepState {
  /** Every server carrying our `managed-by` label (all pages): a missing one counts as gone. */
  servers: readonly ObservedServer[];
  instances: readonly ObservedInstance[];
  /** Customers with a recorded payment state; customers without one are left alone. */
  customers: readonly ObservedCustomer[];
  /** Ids of operations whose broker job exists (waiting, delayed or active). */
  liveJobIds: ReadonlySet<string>;
  /** The open hold of a restore from backup; absent or null in normal operation. */
  restoreHold?: RestoreHold | null;
}

export interface SweepPolicy {
  /** How long after its creation a server may be deleted as a zombie, in ms; default 600000 (10 min). */
  zombieGraceMs: number;
  /** How long an unfinished operation may go without an update and without a broker job, in ms; default 900000 (15 min). */
  stuckAfterMs: number;
  /** Whether a lost instance is provisioned again; default false (a server deleted by hand may be deliberate). */
  reprovisionLost: boolean;
}

/** Instance status the sweep sets when a serving instance's server is gone. */
export const LOST_STATUS = "lost";

/** Instance statuses whose server serves the customer: ready, or degraded (a failed reconfigure kept it). */
export const SERVING_STATUSES: readonly string[] = ["ready", "degraded"];

export type Decision =
  | {
      kind: "adopt-server";
      serverId: number;
      instanceId: string;
      /** The server the database had saved (gone at Hetzner), or null. */
      previousServerId: number | null;
      reason: string;
    }
  | {
      kind: "delete-zombie-server";
      serverId: number;
      serverName: string;
      instanceId: string | null;
      reason: string;
    }
  /** A server the zombie rules would delete, but its delete protection says a customer's: an operator looks. */
  | {
      kind: "report-protected-server";
      serverId: number;
      serverName: string;
      instanceId: string | null;
      reason: string;
    }
  | { kind: "mark-instance-lost"; instanceId: string; serverId: number | null; reason: string }
  | { kind: "resume-operation"; operationId: string; instanceId: string; reason: string }
  | { kind: "fail-operation"; operationId: string; instanceId: string; reason: string }
  | { kind: "enqueue-provision"; customerId: string; instanceId: string | null; reason: string }
  | { kind: "enqueue-deprovision"; customerId: string; instanceId: string; reason: string };

export type DecisionKind = Decision["kind"];
