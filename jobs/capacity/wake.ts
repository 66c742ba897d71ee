/**
 * Waking the line when room appears (a server deleted, a provision rolled back, a worker started with a
 * new limit): the first waiters, as many as there is room for, get the capacity signal; each then takes its
 * place or waits again.
 */
import type { Db } from "../../db/index.ts";
import { CAPACITY_SIGNAL, type CapacitySettings, DEFAULT_PROJECT, roomIn, waitingLine } from "./line.ts";

export interface CapacityDeps {
  db: Db;
  capacity: CapacitySettings & {
    /** Longest a provision waits for room, in ms. */
    waitTimeoutMs: number;
    /** Delivers a durable signal to an instance's parked operation (the job queue's `signal`). */
    signal(instanceId: string, name: string, data: Record<string, unknown>): Promise<void>;
  };
}

/** Signals the first waiters the room now allows; returns how many were woken. */
export async function wakeWaiting(deps: CapacityDeps): Promise<number> {
  const room = roomIn(deps.db, DEFAULT_PROJECT, deps.capacity);
  const woken = waitingLine(deps.db).slice(0, room);
  for (const entry of woken) await deps.capacity.signal(entry.instanceId, CAPACITY_SIGNAL, {});
  return woken.length;
}
