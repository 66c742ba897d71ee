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
import { placeServer } from "./placement.ts";

/** The signal a provision waiting for capacity is woken with. */
export const CAPACITY_SIGNAL = "capacity";

/** Instance status while its provision waits for room. */
export const WAITING_FOR_CAPACITY = "waiting_for_capacity";

export interface CapacitySettings {
  /** Every configured project with its server limit (null = unknown: only Hetzner's error tells). */
  projects: readonly { readonly name: string; readonly serverLimit: number | null }[];
  /** Cap across all projects; null = none. */
  maxServers: number | null;
}

/** The configured limits: each project's server limit and MAX_SERVERS. */
export function capacitySettingsOf(config: Pick<Config, "hcloudProjects" | "maxServers">): CapacitySettings {
  return { projects: config.hcloudProjects, maxServers: config.maxServers };
}

export interface WaitingEntry {
  instanceId: string;
  operationId: string;
  /** 1-based place in the line. */
  position: number;
  requestedAt: number;
}

export type Admission = { kind: "admitted"; project: string } | { kind: "waiting"; position: number };

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

/** The project's configured limit; a project no longer configured has no room at all. */
function limitOf(settings: CapacitySettings, project: string): number | null {
  const found = settings.projects.find((p) => p.name === project);
  return found === undefined ? 0 : found.serverLimit;
}

/** Whether Hetzner said the project is full since its configured limit was last what it is now. */
function learnedFull(tx: DbSession, project: string, settings: CapacitySettings): boolean {
  const row = tx.select().from(projectCapacity).where(eq(projectCapacity.project, project)).get();
  return row !== undefined && row.fullAtLimit === limitOf(settings, project);
}

/** Servers the project's own limit still allows (Infinity when unknown and not learned full). */
function roomByLimit(db: DbSession, project: string, settings: CapacitySettings, exceptId: string): number {
  if (learnedFull(db, project, settings)) return 0;
  const limit = limitOf(settings, project);
  return limit === null ? Infinity : Math.max(0, limit - holding(db, project, exceptId));
}

/** Servers MAX_SERVERS still allows across all projects (Infinity without a cap). */
function roomByCap(db: DbSession, settings: CapacitySettings, exceptId: string): number {
  return settings.maxServers === null
    ? Infinity
    : Math.max(0, settings.maxServers - holding(db, null, exceptId));
}

/** Servers that may still be created in the project now (Infinity when nothing bounds it). */
export function roomIn(db: DbSession, project: string, settings: CapacitySettings, exceptId = ""): number {
  return Math.min(roomByLimit(db, project, settings, exceptId), roomByCap(db, settings, exceptId));
}

/** Servers that may still be created now across every project (Infinity when nothing bounds it). */
export function totalRoom(db: DbSession, settings: CapacitySettings, exceptId = ""): number {
  const byLimits = settings.projects.reduce((sum, p) => sum + roomByLimit(db, p.name, settings, exceptId), 0);
  return Math.min(byLimits, roomByCap(db, settings, exceptId));
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

/** Each configured project's servers used against its limit, for `ops status` and the metrics. */
export function capacityView(db: DbSession, settings: CapacitySettings): ProjectCapacityView[] {
  return settings.projects.map(({ name, serverLimit }) => {
    const room = roomIn(db, name, settings);
    return {
      project: name,
      used: holding(db, name, ""),
      limit: serverLimit,
      learnedFull: learnedFull(db, name, settings),
      room: Number.isFinite(room) ? room : null,
    };
  });
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
 * Lets the provision through when the room left across projects exceeds the number of waiters requested
 * before it, placing it in a project with room (placement.ts); the instance then holds room there. Else marks
 * the instance waiting and tells its place. One IMMEDIATE transaction, so two workers never both take the
 * last server.
 */
export function admitOrQueue(
  db: Db,
  op: { instanceId: string; operationId: string; requestedAt: number },
  settings: CapacitySettings,
  now: number,
): Admission {
  return db.transaction(
    (tx) => {
      const ahead = waitingLine(tx).filter(
        (w) => w.operationId !== op.operationId && w.requestedAt <= op.requestedAt,
      ).length;
      const rooms = settings.projects.map(({ name }) => ({
        name,
        room: roomIn(tx, name, settings, op.instanceId),
        used: holding(tx, name, op.instanceId),
      }));
      const project = totalRoom(tx, settings, op.instanceId) > ahead ? placeServer(rooms) : null;
      if (project !== null) {
        tx.update(instances)
          .set({ hetznerProject: project, updatedAt: now })
          .where(eq(instances.id, op.instanceId))
          .run();
        return { kind: "admitted", project };
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
export function releaseRoom(db: DbSession, instanceId: string, now: number): void {
  db.update(instances)
    .set({ hetznerProject: null, updatedAt: now })
    .where(eq(instances.id, instanceId))
    .run();
}

/**
 * Hetzner refused a create for the server limit: the project is full until a delete or a new limit, and the
 * instance no longer holds room there (one transaction, so no other provision is placed in it meanwhile).
 */
export function markProjectFull(
  db: Db,
  project: string,
  instanceId: string,
  settings: CapacitySettings,
  now: number,
): void {
  const fullAtLimit = limitOf(settings, project);
  db.transaction(
    (tx) => {
      tx.insert(projectCapacity)
        .values({ project, fullAt: now, fullAtLimit })
        .onConflictDoUpdate({ target: projectCapacity.project, set: { fullAt: now, fullAtLimit } })
        .run();
      releaseRoom(tx, instanceId, now);
    },
    { behavior: "immediate" },
  );
}

/** A server was deleted in the project: whatever Hetzner said before, there is room again. */
export function clearProjectFull(db: Db, project: string): void {
  db.delete(projectCapacity).where(eq(projectCapacity.project, project)).run();
}
