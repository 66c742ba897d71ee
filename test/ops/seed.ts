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

const NO_CAPACITY = "no capacity for cx23 in any of nbg1, fsn1, hel1";

/**
 * A provision that failed at `at` for lack of capacity: ssh-key succeeded (10 ms), create-server failed twice
 * (50 ms each, 150 ms from first start to last end), the key was rolled back, the operation took 900 ms.
 */
export function seedCapacityFailure(db: Db, at: number): { id: string; op: string } {
  const failure = { errorStep: "create-server", errorCode: "no_capacity", errorMessage: NO_CAPACITY };
  const id = seedInstance(db, {
    createdAt: at,
    status: "failed",
    customerId: "cust-detail",
    hetznerServerId: 42,
    sshKeyId: 7,
    firewallId: 9,
    ipv4: "127.1.0.9",
    location: "nbg1",
    ...failure,
  });
  const op = seedOperation(db, {
    instanceId: id,
    createdAt: at,
    status: "failed",
    finishedAt: at + 900,
    ...failure,
  });
  const run = { instanceId: id, operationId: op };
  seedStepRun(db, { ...run, step: "ssh-key", startedAt: at + 10, finishedAt: at + 20, durationMs: 10 });
  for (const attempt of [1, 2]) {
    const startedAt = at + 100 * attempt;
    seedStepRun(db, {
      ...run,
      step: "create-server",
      attempt,
      status: "failed",
      startedAt,
      finishedAt: startedAt + 50,
      durationMs: 50,
      errorCode: "no_capacity",
      errorMessage: NO_CAPACITY,
    });
  }
  seedStepRun(db, {
    ...run,
    step: "ssh-key",
    kind: "compensate",
    startedAt: at + 400,
    finishedAt: at + 410,
    durationMs: 10,
  });
  return { id, op };
}
