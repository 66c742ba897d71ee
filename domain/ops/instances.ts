/** The operator's view of instances: what each is, where its server is, and why it failed, never a secret. */
import { and, desc, eq, type SQL } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { type InstanceStatus, instances } from "../../db/schema.ts";
import { afterKey, isoTime, type Page, type PageRequest, pageOf } from "./page.ts";

/** Every state an instance can be in, in lifecycle order (the column is free text; these are what jobs write). */
export const INSTANCE_STATES = [
  "new",
  "provisioning",
  "ready",
  "waiting_for_capacity",
  "failed",
  "reconfiguring",
  "upgrading",
  "degraded",
  "lost",
  "deprovisioning",
  "deprovisioned",
] as const satisfies readonly InstanceStatus[];

/** An instance without its sealed key, callback token or lease. Times are ISO 8601. */
export interface InstanceView {
  id: string;
  customerId: string | null;
  state: string;
  currentStep: string | null;
  serverName: string | null;
  hetznerServerId: number | null;
  sshKeyId: number | null;
  firewallId: number | null;
  location: string | null;
  /** The Hetzner project it was placed in (null: before placement, or from before projects: the first). */
  project: string | null;
  /** The server type it got (a fallback when the preferred one had no capacity). */
  serverType: string | null;
  ipv4: string | null;
  ipv6: string | null;
  errorStep: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: string | null;
  updatedAt: string | null;
  readyAt: string | null;
  callbackReceivedAt: string | null;
  deprovisionedAt: string | null;
  /** Why the bot's owner may need to log in to Claude again (possibly stale tokens delivered); null when not. */
  needsRelogin: string | null;
}

/** The columns an operator may see: the select itself leaves the secrets out, so no view can leak them. */
const visibleColumns = {
  id: instances.id,
  customerId: instances.customerId,
  status: instances.status,
  currentStep: instances.currentStep,
  serverName: instances.serverName,
  hetznerServerId: instances.hetznerServerId,
  sshKeyId: instances.sshKeyId,
  firewallId: instances.firewallId,
  location: instances.location,
  hetznerProject: instances.hetznerProject,
  serverType: instances.serverType,
  ipv4: instances.ipv4,
  ipv6: instances.ipv6,
  errorStep: instances.errorStep,
  errorCode: instances.errorCode,
  errorMessage: instances.errorMessage,
  createdAt: instances.createdAt,
  updatedAt: instances.updatedAt,
  readyAt: instances.readyAt,
  callbackReceivedAt: instances.callbackReceivedAt,
  deprovisionedAt: instances.deprovisionedAt,
  claudeReloginReason: instances.claudeReloginReason,
};

type VisibleRow = Pick<typeof instances.$inferSelect, keyof typeof visibleColumns>;

function viewOf(row: VisibleRow): InstanceView {
  return {
    id: row.id,
    customerId: row.customerId,
    state: row.status,
    currentStep: row.currentStep,
    serverName: row.serverName,
    hetznerServerId: row.hetznerServerId,
    sshKeyId: row.sshKeyId,
    firewallId: row.firewallId,
    location: row.location,
    project: row.hetznerProject,
    serverType: row.serverType,
    ipv4: row.ipv4,
    ipv6: row.ipv6,
    errorStep: row.errorStep,
    errorCode: row.errorCode,
    errorMessage: row.errorMessage,
    createdAt: isoTime(row.createdAt),
    updatedAt: isoTime(row.updatedAt),
    readyAt: isoTime(row.readyAt),
    callbackReceivedAt: isoTime(row.callbackReceivedAt),
    deprovisionedAt: isoTime(row.deprovisionedAt),
    needsRelogin: row.claudeReloginReason,
  };
}

export interface InstanceListRequest extends PageRequest {
  /** Only instances in this state; every state when undefined. */
  state: string | undefined;
}

/** Instances newest first. */
export function listInstances(db: Db, request: InstanceListRequest): Page<InstanceView> {
  const conditions: (SQL | undefined)[] = [
    request.state === undefined ? undefined : eq(instances.status, request.state),
    afterKey(instances.createdAt, instances.id, request.after),
  ];
  const rows = db
    .select(visibleColumns)
    .from(instances)
    .where(and(...conditions))
    .orderBy(desc(instances.createdAt), desc(instances.id))
    .limit(request.limit + 1)
    .all();
  return pageOf(rows, request.limit, (row) => ({ at: row.createdAt, id: row.id }), viewOf);
}

/** One instance, or undefined when the database does not know it. */
export function findInstance(db: Db, instanceId: string): InstanceView | undefined {
  const row = db.select(visibleColumns).from(instances).where(eq(instances.id, instanceId)).get();
  return row === undefined ? undefined : viewOf(row);
}
