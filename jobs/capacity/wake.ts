/**
 * Waking the line when room appears (a server deleted, a provision rolled back, a worker started with a
 * new limit or a new project): the first waiters, as many as there is room for across the projects, get the
 * capacity signal; each then takes its place or waits again.
 */
import type { Db } from "../../db/index.ts";
import { CAPACITY_SIGNAL, type CapacitySettings, totalRoom, waitingLine } from "./line.ts";

export interface CapacityDeps {
  db: Db;
  /** Every configured project with its server limit (a HetznerProjects fits). */
  projects: { readonly all: CapacitySettings["projects"] };
  capacity: {
    /** Cap on servers across all projects; null = none. */
    maxServers: number | null;
    /** Longest a provision waits for room, in ms. */
    waitTimeoutMs: number;
    /** Delivers a durable signal to an instance's parked operation (the job queue's `signal`). */
    signal(instanceId: string, name: string, data: Record<string, unknown>): Promise<void>;
  };
}

/** The limits the line is measured against. */
export function settingsOf(deps: Pick<CapacityDeps, "projects" | "capacity">): CapacitySettings {
  return { projects: deps.projects.all, maxServers: deps.capacity.maxServers };
}

/** Signals the first waiters the room now allows; returns how many were woken. */
export async function wakeWaiting(deps: CapacityDeps): Promise<number> {
  const room = totalRoom(deps.db, settingsOf(deps));
  const woken = waitingLine(deps.db).slice(0, room);
  for (const entry of woken) await deps.capacity.signal(entry.instanceId, CAPACITY_SIGNAL, {});
  return woken.length;
}
