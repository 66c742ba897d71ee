/**
 * The application database (SQLite, shared by the API and worker processes).
 *
 * Glossary: an *instance* is one customer's VPS; an *operation* is one requested job on an instance
 * (provision, deprovision, …) and its record across history; a *run* is one pass of the runner over an
 * operation (a re-run after failure is run + 1); a *step run* is one attempt (or compensation) of a step.
 * Timestamps are epoch milliseconds.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Lifecycle of an instance: new → provisioning (⇄ waiting_for_capacity, parked until a project has room)
 * → ready | failed; ready → reconfiguring → ready | degraded
 * (new secrets not delivered; the server stays); ready → upgrading → ready (new bundle, or rolled back) |
 * degraded; deprovisioning → deprovisioned; a ready instance whose
 * server vanished at Hetzner is marked lost by the reconcile sweep. The column stays free text: the runner
 * writes a job's own running status (default "running").
 */
export type InstanceStatus =
  | "new"
  | "provisioning"
  | "waiting_for_capacity"
  | "ready"
  | "failed"
  | "reconfiguring"
  | "upgrading"
  | "degraded"
  | "lost"
  | "deprovisioning"
  | "deprovisioned";

/** A paying customer and their secrets, sealed per row and field; `shreddedAt` set once they are destroyed. */
export const customers = sqliteTable("customers", {
  id: text("id").primaryKey(),
  /** Sealed (context `customer:<id>:telegramBotToken`); null after shred. */
  telegramBotToken: text("telegram_bot_token"),
  /** Sealed decimal (context `customer:<id>:ownerTelegramUserId`); null after shred. */
  ownerTelegramUserId: text("owner_telegram_user_id_sealed"),
  /**
   * The owner id in clear, as rows written before it was sealed hold it; sealClearOwnerIds (domain/customers.ts)
   * seals it into the column above and nulls it at every start. Never written otherwise.
   */
  clearOwnerTelegramUserId: integer("owner_telegram_user_id"),
  /** Sealed JSON of the Claude OAuth credentials (context `customer:<id>:claudeCredentials`); null after shred. */
  claudeCredentials: text("claude_credentials"),
  /**
   * Version of the stored Claude credentials: + 1 whenever they change (the customer sent new ones, or the
   * ones a machine had refreshed were fetched back before it was replaced).
   */
  claudeCredentialsVersion: integer("claude_credentials_version").notNull().default(1),
  /**
   * Hetzner id of the server the stored version was delivered to: from then on that machine's Claude Code
   * may rotate the tokens, so the stored ones may be stale. Null while the stored version is the freshest.
   */
  claudeCredentialsServerId: integer("claude_credentials_server_id"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  shreddedAt: integer("shredded_at"),
});

export const instances = sqliteTable(
  "instances",
  {
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
    /** Hetzner server name, `rachel-<id>`; deterministic so a retried create finds its own server. */
    serverName: text("server_name"),
    /** Hetzner location the server was created in (after any capacity fallback). */
    location: text("location"),
    /** Hetzner server type the server was created as (after any capacity fallback to another type). */
    serverType: text("server_type"),
    /** OpenSSH public key the provisioner logs in with. */
    sshPublicKey: text("ssh_public_key"),
    /** Sealed OpenSSH private key (context `instance:<id>:sshPrivateKey`). */
    sshPrivateKey: text("ssh_private_key"),
    /** Sealed single-use token of the cloud-init callback (context `instance:<id>:callbackToken`). */
    callbackToken: text("callback_token"),
    callbackReceivedAt: integer("callback_received_at"),
    /** `ssh-ed25519 AAAA…` the server reported in its callback; the only host key SSH will accept. */
    reportedHostKey: text("reported_host_key"),
    firewallId: integer("firewall_id"),
    /**
     * Hetzner project whose capacity this instance holds: set when its provision got room, cleared when that
     * provision is rolled back. It counts against the project while it has a server or is provisioning.
     */
    hetznerProject: text("hetzner_project"),
    /** Id (sha256) of the app bundle the server runs: recorded at boot and after each upgrade. */
    bundleId: text("bundle_id"),
    /**
     * Version of the customer's Claude credentials (customers.claude_credentials_version) written to this
     * instance's current server; null before the first delivery and once the server is gone. A later
     * injection writes the credentials file only for a newer version: the machine owns its refreshed tokens.
     */
    claudeCredentialsVersion: integer("claude_credentials_version"),
    /** Why the bot's owner may have to log Claude in again (tokens possibly rotated by a replaced machine); null when not. */
    claudeReloginReason: text("claude_relogin_reason"),
    deprovisionedAt: integer("deprovisioned_at"),
    // Fencing lease: who may write step results for this instance, until when, and a token that grows on
    // every acquisition so a stale holder's conditional writes match nothing.
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: integer("lease_expires_at"),
    leaseToken: integer("lease_token").notNull().default(0),
  },
  // Requests look up a customer's live instance on every provision and deprovision.
  (t) => [index("instances_customer").on(t.customerId)],
);

/**
 * A Hetzner project learned full: its create answered resource_limit_exceeded while configured for
 * `fullAtLimit` servers (null: none configured). It counts as full until a server is deleted there or the
 * configured limit differs.
 */
export const projectCapacity = sqliteTable("project_capacity", {
  project: text("project").primaryKey(),
  fullAt: integer("full_at").notNull(),
  fullAtLimit: integer("full_at_limit"),
});

export const bundleGrantPurposes = ["boot", "upgrade"] as const;
export type BundleGrantPurpose = (typeof bundleGrantPurposes)[number];

/**
 * Leave for one server to download one bundle: a boot's lasts until its cloud-init callback or deadline,
 * an upgrade's until that upgrade ends. Its token is sealed (context `instance:<id>:bundleGrant:<grantId>`).
 */
export const bundleGrants = sqliteTable(
  "bundle_grants",
  {
    /** The operation it serves (e.g. `provision:<instanceId>:1`), so a retried step gets the same grant. */
    id: text("id").primaryKey(),
    instanceId: text("instance_id")
      .notNull()
      .references(() => instances.id),
    purpose: text("purpose", { enum: bundleGrantPurposes }).notNull(),
    bundleId: text("bundle_id").notNull(),
    token: text("token").notNull(),
    expiresAt: integer("expires_at").notNull(),
    endedAt: integer("ended_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("bundle_grants_instance").on(t.instanceId)],
);

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
  (t) => [
    index("step_runs_operation_step").on(t.operationId, t.step),
    // Each API scrape reads only the step runs finished since its previous one.
    index("step_runs_finished").on(t.finishedAt),
  ],
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

/** Hetzner resources shared by every instance (e.g. the control-plane firewall), created once and cached by name. */
export const sharedResources = sqliteTable("shared_resources", {
  name: text("name").primaryKey(),
  hetznerId: integer("hetzner_id").notNull(),
  createdAt: integer("created_at").notNull(),
});

/**
 * Each Hetzner project's rate-limit budget as a worker last estimated it, for `ops status` (the API makes
 * no Hetzner calls of its own). With several workers, the latest write is shown.
 */
export const hetznerBudgets = sqliteTable("hetzner_budgets", {
  project: text("project").primaryKey(),
  /** RateLimit-Limit last seen; null before the first answer. */
  requestLimit: integer("request_limit"),
  /** Requests that could be sent at `observedAt` (in-flight ones deducted); null before the first answer. */
  remaining: integer("remaining"),
  /** Requests the writing worker sent through the budget since it started, and how many met a 429. */
  requests: integer("requests").notNull(),
  rateLimited: integer("rate_limited").notNull(),
  observedAt: integer("observed_at").notNull(),
});

/** What a subscription's newest event means for its customer's server. */
export const paymentStates = ["paid", "cancelled"] as const;
export type PaymentState = (typeof paymentStates)[number];

/**
 * Every verified payment webhook event, once per provider and event id: what makes a redelivery a no-op,
 * and the audit trail of why a customer was provisioned or deprovisioned. Never holds a secret.
 */
export const paymentEvents = sqliteTable(
  "payment_events",
  {
    provider: text("provider").notNull(),
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    customerId: text("customer_id"),
    subscriptionId: text("subscription_id"),
    /** When the provider created the event, epoch ms: events of one subscription apply in this order. */
    occurredAt: integer("occurred_at").notNull(),
    receivedAt: integer("received_at").notNull(),
    /** The state the event asks for; null for an event type that is acknowledged and ignored. */
    paymentState: text("payment_state", { enum: paymentStates }),
    /** How it was handled (applied, stale, ignored, awaiting the customer's registration…); null until then. */
    outcome: text("outcome"),
    /** Set once handled: from then on a redelivery answers 200 and changes nothing. */
    handledAt: integer("handled_at"),
  },
  (t) => [primaryKey({ columns: [t.provider, t.eventId] })],
);

/**
 * The payment state of each subscription, as set by its newest event by creation time: a stale `active`
 * arriving after a `deleted` loses to it. A customer is paid while any of their subscriptions is.
 */
export const subscriptions = sqliteTable(
  "subscriptions",
  {
    provider: text("provider").notNull(),
    subscriptionId: text("subscription_id").notNull(),
    customerId: text("customer_id").notNull(),
    paymentState: text("payment_state", { enum: paymentStates }).notNull(),
    /** The event that set the state, and its creation time (epoch ms); only a newer event replaces it. */
    eventId: text("event_id").notNull(),
    eventOccurredAt: integer("event_occurred_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.provider, t.subscriptionId] }),
    index("subscriptions_customer").on(t.customerId),
  ],
);

/**
 * Who is applying a customer's payment state right now, across every API process: one application at a time
 * per customer, so the last one reads the newest state. A row outlives its holder only until `expires_at`.
 */
export const paymentApplicationClaims = sqliteTable("payment_application_claims", {
  customerId: text("customer_id").primaryKey(),
  /** A random token per application: only its holder releases the claim. */
  holder: text("holder").notNull(),
  /** Epoch ms after which another application may take the claim (its holder crashed). */
  expiresAt: integer("expires_at").notNull(),
});

export const sweepStatuses = ["queued", "running", "succeeded", "failed"] as const;
export type SweepStatus = (typeof sweepStatuses)[number];

/** One reconcile sweep, scheduled or asked for by an operator: what it saw, decided and did. */
export const sweeps = sqliteTable(
  "sweeps",
  {
    /** Also the broker job id. */
    id: text("id").primaryKey(),
    /** `schedule` or `operator`. */
    trigger: text("trigger").notNull(),
    dryRun: integer("dry_run", { mode: "boolean" }).notNull(),
    status: text("status", { enum: sweepStatuses }).notNull(),
    requestedAt: integer("requested_at").notNull(),
    startedAt: integer("started_at"),
    finishedAt: integer("finished_at"),
    /** Servers carrying our label that the sweep listed at Hetzner. */
    serversSeen: integer("servers_seen"),
    /** Hetzner requests the sweep made (listing plus actions). */
    hetznerRequests: integer("hetzner_requests"),
    /** JSON array: each decision with its outcome (`planned` in a dry run, `applied` or `failed` with the error). */
    decisions: text("decisions"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    /** Who runs it (one delivery of its job); null unless running. */
    owner: text("owner"),
    /** Until when the running sweep's owner is known alive (renewed by its heartbeat), epoch ms. */
    leaseExpiresAt: integer("lease_expires_at"),
  },
  (t) => [index("sweeps_requested").on(t.requestedAt)],
);

/**
 * One row per `bun run ops restore`. While its hold is open (`released_at` null) sweeps adopt and resume but
 * delete nothing and create no server: the world may have moved on since the snapshot, and only an operator's
 * `ops reconcile --apply` releases the hold.
 */
export const restores = sqliteTable("restores", {
  id: text("id").primaryKey(),
  /** When the restored snapshot was taken, epoch ms. */
  snapshotTakenAt: integer("snapshot_taken_at").notNull(),
  restoredAt: integer("restored_at").notNull(),
  /** When an operator's sweep released the hold; null while deletions are held. */
  releasedAt: integer("released_at"),
  /** The sweep that released it. */
  releasedBySweep: text("released_by_sweep"),
});

export const rolloutStatuses = ["running", "paused", "halted", "succeeded"] as const;
export type RolloutStatus = (typeof rolloutStatuses)[number];

/**
 * One fleet rollout of a bundle (`ops rollout`): its canary, then batches of the instances that ran another
 * bundle of its architecture when it began. `halted` once failures passed the limit; the job keeps going
 * until the upgrades in flight and the rollbacks have ended (`finished_at`).
 */
export const rollouts = sqliteTable(
  "rollouts",
  {
    /** Also the broker job id. */
    id: text("id").primaryKey(),
    bundleId: text("bundle_id").notNull(),
    architecture: text("architecture").notNull(),
    /** Members upgraded first; the bundle becomes current only once they have all ended within the limit. */
    canary: integer("canary").notNull(),
    /** Members upgraded together after the canary; the next batch starts when this one has ended. */
    batchSize: integer("batch_size").notNull(),
    /** Failed upgrades tolerated: one more halts the rollout. */
    maxFailures: integer("max_failures").notNull(),
    status: text("status", { enum: rolloutStatuses }).notNull(),
    /** When the canary passed and the bundle became the current one of its architecture. */
    promotedAt: integer("promoted_at"),
    haltReason: text("halt_reason"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** When nothing more runs: every member ended and every rollback with it. */
    finishedAt: integer("finished_at"),
  },
  (t) => [index("rollouts_created").on(t.createdAt)],
);

export const rolloutMemberOutcomes = ["pending", "upgrading", "upgraded", "failed", "skipped"] as const;
export type RolloutMemberOutcome = (typeof rolloutMemberOutcomes)[number];

/** An instance in a rollout, in its order: canary members first. */
export const rolloutMembers = sqliteTable(
  "rollout_members",
  {
    rolloutId: text("rollout_id")
      .notNull()
      .references(() => rollouts.id),
    instanceId: text("instance_id")
      .notNull()
      .references(() => instances.id),
    /** 0, 1, …: members below the rollout's canary count are its canary, the rest go in batches. */
    position: integer("position").notNull(),
    /** The bundle it ran when the rollout began: what a failed member is rolled back to. */
    fromBundleId: text("from_bundle_id"),
    outcome: text("outcome", { enum: rolloutMemberOutcomes }).notNull(),
    /** Its upgrade operation. */
    operationId: text("operation_id"),
    /** The upgrade back to fromBundleId of a failed member its own upgrade left degraded. */
    rollbackOperationId: text("rollback_operation_id"),
    /** Why it failed, was skipped or still waits (e.g. another operation in flight). */
    detail: text("detail"),
    startedAt: integer("started_at"),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    primaryKey({ columns: [t.rolloutId, t.instanceId] }),
    uniqueIndex("rollout_members_position").on(t.rolloutId, t.position),
  ],
);
