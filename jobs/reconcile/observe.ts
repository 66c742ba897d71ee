/**
 * What one sweep sees, mapped into the SweepState `tick` decides on: our servers at Hetzner (every page of
 * the label selector, one pass per project; server ids are unique across projects), each instance with its newest operation, each registered customer's payment state,
 * which unfinished operations still have a live broker job, and whether a restore's hold is open.
 */
import { eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { customers, instances, operations, type PaymentState, subscriptions } from "../../db/schema.ts";
import { activeOperationStatuses } from "../../domain/operations.ts";
import { sharedLabels } from "../../domain/ownership.ts";
import type { Server, ServersApi } from "../../hetzner/index.ts";
import { readOpenRestoreHold } from "./restore-hold.ts";
import type { ObservedCustomer, ObservedInstance, ObservedServer, SweepState } from "./types.ts";

/** The Hetzner projects one sweep lists, each through its own client (and so its own rate-limit budget). */
export interface SweepProjects<C = { servers: Pick<ServersApi, "listAll"> }> {
  readonly all: readonly { readonly name: string; readonly client: C }[];
}

export interface ObserveDeps {
  projects: SweepProjects;
  db: Db;
  /** Which of these operation ids have a live job in the broker (waiting, delayed, active…). */
  liveJobIds(ids: readonly string[]): Promise<ReadonlySet<string>>;
  /** Aborts the listing (the sweep's deadline). */
  signal?: AbortSignal;
}

/** `managed-by=rachel-provisioner`: every server we ever made carries it, shared or per instance. */
const OWNED_SERVERS_SELECTOR = Object.entries(sharedLabels())
  .map(([key, value]) => `${key}=${value}`)
  .join(",");

function toObserved(server: Server, now: number): ObservedServer {
  const created = Date.parse(server.created);
  return {
    id: server.id,
    name: server.name,
    labels: server.labels,
    status: server.status,
    deleteProtected: server.protection.delete,
    // An unreadable creation time counts as brand new, so the grace period spares the server rather than not.
    createdAt: Number.isNaN(created) ? now : created,
  };
}

/** Every server carrying our label in each project, 50 per request (one request up to 50 servers), with its project. */
async function listOwnedServers(
  projects: SweepProjects,
  now: number,
  signal?: AbortSignal,
): Promise<{ servers: ObservedServer[]; projectOf: Map<number, string> }> {
  const servers: ObservedServer[] = [];
  const projectOf = new Map<number, string>();
  for (const project of projects.all) {
    const listed = await project.client.servers.listAll({ labelSelector: OWNED_SERVERS_SELECTOR, signal });
    for (const server of listed) {
      servers.push(toObserved(server, now));
      projectOf.set(server.id, project.name);
    }
  }
  return { servers, projectOf };
}

/** Every instance with its newest operation of any kind (by creation, then insertion order); no secret column is read. */
export function readInstances(db: Db): ObservedInstance[] {
  const newest = sql`(select o.id from operations o where o.instance_id = ${instances.id}
    order by o.created_at desc, o.rowid desc limit 1)`;
  const rows = db
    .select({
      id: instances.id,
      customerId: instances.customerId,
      status: instances.status,
      hetznerServerId: instances.hetznerServerId,
      operation: {
        id: operations.id,
        operation: operations.operation,
        status: operations.status,
        updatedAt: operations.updatedAt,
        waitDeadline: operations.waitDeadline,
      },
    })
    .from(instances)
    .leftJoin(operations, eq(operations.id, newest))
    .all();
  return rows.map((row) => ({ ...row, operation: row.operation ?? null }));
}

/**
 * Registered customers with a subscription: paid while any subscription is paid. A paid customer whose
 * secrets were shredded is left out: a provision cannot run until they register again.
 */
export function readCustomers(db: Db): ObservedCustomer[] {
  const rows = db
    .select({
      id: subscriptions.customerId,
      anyPaid: sql<number>`max(${subscriptions.paymentState} = 'paid')`,
      shreddedAt: sql<number | null>`max(${customers.shreddedAt})`,
    })
    .from(subscriptions)
    .innerJoin(customers, eq(customers.id, subscriptions.customerId))
    .groupBy(subscriptions.customerId)
    .all();
  return rows.flatMap((row) => {
    const payment: PaymentState = row.anyPaid === 1 ? "paid" : "cancelled";
    return payment === "paid" && row.shreddedAt !== null ? [] : [{ id: row.id, payment }];
  });
}

/** Ids of the operations the database says are unfinished: the only ones the broker is asked about. */
export function readUnfinishedOperationIds(db: Db): string[] {
  return db
    .select({ id: operations.id })
    .from(operations)
    .where(inArray(operations.status, [...activeOperationStatuses]))
    .all()
    .map((row) => row.id);
}

/**
 * Observes everything a sweep decides on; the listings are the only Hetzner traffic. `projectOf` names the
 * project each listed server is in, where a decision about it is carried out.
 */
export async function observeSweepState(
  deps: ObserveDeps,
  now: number,
): Promise<{ state: SweepState; serversSeen: number; projectOf: ReadonlyMap<number, string> }> {
  const { servers, projectOf } = await listOwnedServers(deps.projects, now, deps.signal);
  // Read after the listing: a server created meanwhile is then matched by an instance row, not a zombie.
  const state: SweepState = {
    servers,
    instances: readInstances(deps.db),
    customers: readCustomers(deps.db),
    liveJobIds: await deps.liveJobIds(readUnfinishedOperationIds(deps.db)),
    restoreHold: readOpenRestoreHold(deps.db),
  };
  return { state, serversSeen: servers.length, projectOf };
}
