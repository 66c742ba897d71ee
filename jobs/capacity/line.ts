/**
 * The waiting line for server capacity, in the database: who holds room in a Hetzner project, which
 * projects were learned full, and which paid provisions wait (first paid, first served).
 *
 * Glossary: *room* is how many more servers may be created now (the project's limit and the MAX_SERVERS cap,
 * minus what instances hold); an instance *holds* room from the moment its provision is let through until it
 * has no server and is not provisioning; the *line* is the provisions parked on the capacity signal, in the
 * order they were requested.
 */
import { and, asc, eq, inArray, isNotNull, ne, or, sql } from "drizzle-orm";
import type { Config } from "../../core/config.ts";
import type { Db, DbSession } from "../../db/index.ts";
import { instances, operations, projectCapacity } from "../../db/schema.ts";
import { activeOperationStatuses } from "../../domain/operations.ts";

/** The signal a provision waiting for capacity is woken with. */
export const CAPACITY_SIGNAL = "capacity";

/** Instance status while its provision waits for room. */
export const WAITING_FOR_CAPACITY = "waiting_for_capacity";

/** The one project of a single-project configuration (HCLOUD_TOKEN). */
export const DEFAULT_PROJECT = "default";

export interface CapacitySettings {
  /** The project's server limit as configured; null = unknown (only Hetzner's error tells). */
  serverLimit: number | null;
  /** Cap across all projects; null = none. */
  maxServers: number | null;
}

export interface WaitingEntry {
  instanceId: string;
  operationId: string;
  /** 1-based place in the line. */
  position: number;
  requestedAt: number;
}

export type Admission = { kind: "admitted" } | { kind: "waiting"; position: number };

/** The configured limits: each project's server limit and MAX_SERVERS. */
export function capacitySettingsOf(config: Pick<Config, "hcloudProjects" | "maxServers">): CapacitySettings {
  return { serverLimit: config.hcloudProjects[0].serverLimit, maxServers: config.maxServers };
}

/** Instances holding room in `project` (all projects when null), other than `exceptId`. */
function holding(tx: DbSession, project: string | null, exceptId: string): number {
  const row = tx
    .select({ n: sql<number>`count(*)` })
    .from(instances)
    .where(
      and(
        project === null ? isNotNull(instances.hetznerProject) : eq(instances.hetznerProject, project),
        ne(instances.id, exceptId),
        or(isNotNull(instances.hetznerServerId), eq(instances.status, "provisioning")),
      ),
    )
    .get();
  return row?.n ?? 0;
}

/** Whether Hetzner said the project is full since its configured limit was last what it is now. */
function learnedFull(tx: DbSession, project: string, settings: CapacitySettings): boolean {
  const row = tx.select().from(projectCapacity).where(eq(projectCapacity.project, project)).get();
  return row !== undefined && row.fullAtLimit === settings.serverLimit;
}

/** Servers that may still be created in the project now (Infinity when nothing bounds it). */
export function roomIn(db: DbSession, project: string, settings: CapacitySettings, exceptId = ""): number {
  if (learnedFull(db, project, settings)) return 0;
  const byLimit =
    settings.serverLimit === null ? Infinity : settings.serverLimit - holding(db, project, exceptId);
  const byCap = settings.maxServers === null ? Infinity : settings.maxServers - holding(db, null, exceptId);
  return Math.max(0, Math.min(byLimit, byCap));
}

export interface ProjectCapacityView {
  project: string;
  /** Instances holding room there (a server, or a provision let through). */
  used: number;
  /** The configured server limit; null when unknown. */
  limit: number | null;
  /** Hetzner said full (resource_limit_exceeded) and nothing since made room. */
  learnedFull: boolean;
  /** Servers that may be created now; null when nothing bounds it. */
  room: number | null;
}

/** Each project's servers used against its limit, for `ops status`. */
export function capacityView(db: Db, settings: CapacitySettings): ProjectCapacityView[] {
  const room = roomIn(db, DEFAULT_PROJECT, settings);
  return [
    {
      project: DEFAULT_PROJECT,
      used: holding(db, DEFAULT_PROJECT, ""),
      limit: settings.serverLimit,
      learnedFull: learnedFull(db, DEFAULT_PROJECT, settings),
      room: Number.isFinite(room) ? room : null,
    },
  ];
}

/** Every provision waiting for capacity, first requested first. */
export function waitingLine(db: DbSession): WaitingEntry[] {
  return db
    .select({
      instanceId: operations.instanceId,
      operationId: operations.id,
      requestedAt: operations.createdAt,
    })
    .from(operations)
    .where(
      and(
        eq(operations.waitSignal, CAPACITY_SIGNAL),
        inArray(operations.status, [...activeOperationStatuses]),
      ),
    )
    .orderBy(asc(operations.createdAt), asc(operations.id))
    .all()
    .map((row, i) => ({ ...row, position: i + 1 }));
}

/**
 * Lets the provision through (the instance then holds room in `project`) when the room left exceeds the
 * number of waiters requested before it; else marks the instance waiting and tells its place. One IMMEDIATE
 * transaction, so two workers never both take the last server.
 */
export function admitOrQueue(
  db: Db,
  op: { instanceId: string; operationId: string; requestedAt: number },
  project: string,
  settings: CapacitySettings,
  now: number,
): Admission {
  return db.transaction(
    (tx) => {
      const ahead = waitingLine(tx).filter(
        (w) => w.operationId !== op.operationId && w.requestedAt <= op.requestedAt,
      ).length;
      if (roomIn(tx, project, settings, op.instanceId) > ahead) {
        tx.update(instances)
          .set({ hetznerProject: project, updatedAt: now })
          .where(eq(instances.id, op.instanceId))
          .run();
        return { kind: "admitted" };
      }
      tx.update(instances)
        .set({ status: WAITING_FOR_CAPACITY, hetznerProject: null, updatedAt: now })
        .where(eq(instances.id, op.instanceId))
        .run();
      return { kind: "waiting", position: ahead + 1 };
    },
    { behavior: "immediate" },
  );
}

/** The instance no longer holds room (its provision was rolled back). */
export function releaseRoom(db: Db, instanceId: string, now: number): void {
  db.update(instances)
    .set({ hetznerProject: null, updatedAt: now })
    .where(eq(instances.id, instanceId))
    .run();
}

/** Hetzner refused a create for the server limit: the project is full until a delete or a new limit. */
export function markProjectFull(db: Db, project: string, settings: CapacitySettings, now: number): void {
  db.insert(projectCapacity)
    .values({ project, fullAt: now, fullAtLimit: settings.serverLimit })
    .onConflictDoUpdate({
      target: projectCapacity.project,
      set: { fullAt: now, fullAtLimit: settings.serverLimit },
    })
    .run();
}

/** A server was deleted in the project: whatever Hetzner said before, there is room again. */
export function clearProjectFull(db: Db, project: string): void {
  db.delete(projectCapacity).where(eq(projectCapacity.project, project)).run();
}
