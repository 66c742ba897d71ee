/** Rows written straight into a real, migrated database: instances, operations and step runs an operator inspects. */
import type { Db } from "../../db/index.ts";
import { instances, operations, stepRuns, sweeps } from "../../db/schema.ts";

/** Marker values for the sealed columns: no ops answer may ever contain them. */
export const SECRET_MARKERS = ["SEALED-PRIVATE-KEY-MARKER", "SEALED-CALLBACK-TOKEN-MARKER"] as const;

let sequence = 0;

export function seedInstance(
  db: Db,
  values: Partial<typeof instances.$inferInsert> & { createdAt: number },
): string {
  sequence += 1;
  const id = values.id ?? `iseed${String(sequence).padStart(8, "0")}`;
  db.insert(instances)
    .values({
      id,
      customerId: `cust-${sequence}`,
      status: "ready",
      serverName: `rachel-${id}`,
      sshPrivateKey: SECRET_MARKERS[0],
      callbackToken: SECRET_MARKERS[1],
      updatedAt: values.createdAt,
      ...values,
    })
    .run();
  return id;
}

export function seedOperation(
  db: Db,
  values: Partial<typeof operations.$inferInsert> & { instanceId: string; createdAt: number },
): string {
  const operation = values.operation ?? "provision";
  const seq = values.seq ?? 1;
  const id = `${operation}:${values.instanceId}:${seq}`;
  db.insert(operations)
    .values({ id, operation, seq, status: "succeeded", run: 1, updatedAt: values.createdAt, ...values })
    .run();
  return id;
}

export function seedStepRun(
  db: Db,
  values: Partial<typeof stepRuns.$inferInsert> & {
    instanceId: string;
    operationId: string;
    step: string;
    startedAt: number;
  },
): void {
  db.insert(stepRuns)
    .values({ run: 1, kind: "run", attempt: 1, status: "succeeded", ...values })
    .run();
}

export function seedSweep(
  db: Db,
  values: Partial<typeof sweeps.$inferInsert> & { id: string; requestedAt: number },
): void {
  db.insert(sweeps)
    .values({ trigger: "operator", dryRun: true, status: "succeeded", ...values })
    .run();
}
