/** Reads and writes of the instance row the provision and deprovision steps share. */
import { eq } from "drizzle-orm";
import type { Db } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import { UnknownInstanceError } from "../errors.ts";

export type InstanceRow = typeof instances.$inferSelect;
export type InstanceUpdate = Partial<Omit<InstanceRow, "id" | "createdAt">>;

/** Seal context of the instance's SSH private key (binds the sealed value to its row and field). */
export function sshPrivateKeyContext(instanceId: string): string {
  return `instance:${instanceId}:sshPrivateKey`;
}

export function loadInstance(db: Db, instanceId: string): InstanceRow {
  const row = db.select().from(instances).where(eq(instances.id, instanceId)).get();
  if (!row) throw new UnknownInstanceError(instanceId);
  return row;
}

export function updateInstance(db: Db, instanceId: string, fields: InstanceUpdate, now: number): void {
  db.update(instances)
    .set({ ...fields, updatedAt: now })
    .where(eq(instances.id, instanceId))
    .run();
}
