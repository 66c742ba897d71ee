/**
 * What the onboarding service may tell a customer about their assistant: a phase a person understands
 * ("setting up", "waiting for capacity", "ready"…), their place in the capacity line, and a failure class
 * with words for them, never the internal error message.
 */
import { desc, eq } from "drizzle-orm";
import type { Db } from "../db/index.ts";
import { customers, instances, type PaymentState } from "../db/schema.ts";
import { WAITING_FOR_CAPACITY, waitingLine } from "../jobs/capacity/line.ts";
import { currentPaymentState } from "./payments/apply.ts";

export type CustomerPhase =
  | "not_started"
  | "setting_up"
  | "waiting_for_capacity"
  | "ready"
  | "failed"
  | "removing"
  | "removed";

export interface CustomerFailure {
  /** `login` (the customer's Claude login needs them) or `ours` (we are on it). */
  class: "login" | "ours";
  message: string;
}

export interface CustomerState {
  customerId: string;
  payment: PaymentState | null;
  phase: CustomerPhase;
  /** 1-based place in the capacity line while waiting; null otherwise. */
  waitingPosition: number | null;
  failure: CustomerFailure | null;
  /** When the assistant first became ready, ISO 8601; null before. */
  readyAt: string | null;
}

/** Claude login failures of the verify step: only the customer can fix them. */
const LOGIN_FAILURES: readonly string[] = ["not_logged_in", "login_expired_no_refresh"];

const PHASE_OF_STATUS: Readonly<Record<string, CustomerPhase>> = {
  new: "not_started",
  provisioning: "setting_up",
  [WAITING_FOR_CAPACITY]: "waiting_for_capacity",
  ready: "ready",
  reconfiguring: "ready",
  upgrading: "ready",
  degraded: "ready",
  failed: "failed",
  lost: "failed",
  deprovisioning: "removing",
  deprovisioned: "removed",
};

function failureOf(errorCode: string | null): CustomerFailure {
  if (errorCode !== null && LOGIN_FAILURES.includes(errorCode))
    return { class: "login", message: "Your Claude login did not work; please log in to Claude again." };
  return { class: "ours", message: "Setting up your assistant hit a problem on our side; we are on it." };
}

/** The customer's state, or null when no such customer is registered. */
export function customerState(db: Db, customerId: string): CustomerState | null {
  const customer = db.select({ id: customers.id }).from(customers).where(eq(customers.id, customerId)).get();
  if (!customer) return null;
  const instance = db
    .select({
      id: instances.id,
      status: instances.status,
      errorCode: instances.errorCode,
      readyAt: instances.readyAt,
    })
    .from(instances)
    .where(eq(instances.customerId, customerId))
    .orderBy(desc(instances.createdAt))
    .get();
  // A job's own running status (e.g. a reconfigure's) reads as what the customer has: set up or being set up.
  const phase = instance ? (PHASE_OF_STATUS[instance.status] ?? "setting_up") : "not_started";
  const place = instance ? waitingLine(db).find((entry) => entry.instanceId === instance.id) : undefined;
  return {
    customerId,
    payment: currentPaymentState(db, customerId),
    phase: place ? "waiting_for_capacity" : phase,
    waitingPosition: place?.position ?? null,
    failure: phase === "failed" ? failureOf(instance?.errorCode ?? null) : null,
    readyAt: instance?.readyAt ? new Date(instance.readyAt).toISOString() : null,
  };
}
