/**
 * The application database (SQLite, shared by the API and worker processes).
 *
 * Glossary: an *instance* is one customer's VPS; an *operation* is one requested job on an instance
 * (provision, deprovision, …) and its record across history; a *run* is one pass of the runner over an
 * operation (a re-run after failure is run + 1); a *step run* is one attempt (or compensation) of a step.
 * Timestamps are epoch milliseconds.
 */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const instances = sqliteTable("instances", {
  id: text("id").primaryKey(),
  customerId: text("customer_id"),
  status: text("status").notNull().default("new"),
  currentStep: text("current_step"),
  hetznerServerId: integer("hetzner_server_id"),
  sshKeyId: integer("ssh_key_id"),
  ipv4: text("ipv4"),
  ipv6: text("ipv6"),
  errorStep: text("error_step"),
  errorCode: text("error_code"),
  errorMessage: text("error_message"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  readyAt: integer("ready_at"),
  // Fencing lease: who may write step results for this instance, until when, and a token that grows on
  // every acquisition so a stale holder's conditional writes match nothing.
  leaseOwner: text("lease_owner"),
  leaseExpiresAt: integer("lease_expires_at"),
  leaseToken: integer("lease_token").notNull().default(0),
});

export const operationStatuses = ["queued", "running", "parked", "succeeded", "failed"] as const;
export type OperationStatus = (typeof operationStatuses)[number];

export const operations = sqliteTable(
  "operations",
  {
    /** Also the broker job id: `<operation>:<instanceId>:<seq>`. */
    id: text("id").primaryKey(),
    instanceId: text("instance_id")
      .notNull()
      .references(() => instances.id),
    operation: text("operation").notNull(),
    /** 1, 2, … per instance and operation, so each new request gets a fresh job id. */
    seq: integer("seq").notNull(),
    status: text("status", { enum: operationStatuses }).notNull(),
    /** Run of the whole job: 1, then + 1 on every re-run after a final failure. */
    run: integer("run").notNull().default(1),
    waitSignal: text("wait_signal"),
    waitDeadline: integer("wait_deadline"),
    errorStep: text("error_step"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    uniqueIndex("operations_instance_operation_seq").on(t.instanceId, t.operation, t.seq),
    index("operations_status").on(t.status),
  ],
);

export const stepRunKinds = ["run", "compensate"] as const;
export type StepRunKind = (typeof stepRunKinds)[number];
/** `waiting`: parked on a durable wait (the same attempt resumes); `interrupted`: shutdown or crash. */
export const stepRunStatuses = ["running", "waiting", "succeeded", "failed", "interrupted"] as const;
export type StepRunStatus = (typeof stepRunStatuses)[number];

export const stepRuns = sqliteTable(
  "step_runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    instanceId: text("instance_id")
      .notNull()
      .references(() => instances.id),
    operationId: text("operation_id")
      .notNull()
      .references(() => operations.id),
    run: integer("run").notNull(),
    step: text("step").notNull(),
    kind: text("kind", { enum: stepRunKinds }).notNull(),
    attempt: integer("attempt").notNull(),
    status: text("status", { enum: stepRunStatuses }).notNull(),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
    durationMs: integer("duration_ms"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    /** JSON of the step's output: non-secret ids only. */
    output: text("output"),
  },
  (t) => [index("step_runs_operation_step").on(t.operationId, t.step)],
);

export const signals = sqliteTable(
  "signals",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    instanceId: text("instance_id")
      .notNull()
      .references(() => instances.id),
    name: text("name").notNull(),
    /** JSON object. */
    data: text("data").notNull(),
    receivedAt: integer("received_at").notNull(),
    /** Set when the step that waited for it succeeds; a consumed signal never satisfies a later wait. */
    consumedAt: integer("consumed_at"),
  },
  (t) => [index("signals_pending").on(t.instanceId, t.name).where(sql`${t.consumedAt} is null`)],
);
