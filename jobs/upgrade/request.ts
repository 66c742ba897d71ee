/**
 * `ops upgrade`: moves one running instance to a bundle (the current one of its architecture unless named).
 * The upgrade is refused while another operation (provision, reconfigure, deprovision) on the instance is
 * in flight, joined while an upgrade to the same bundle is, and needs a server that runs: ready, or
 * degraded (a new bundle may be the fix); both are checked in the transaction that records the upgrade. The
 * grant the job's first step opens is issued in it too, under the operation's id, so the bundle travels
 * with it and not in the job's payload.
 */
import { and, eq, inArray, ne } from "drizzle-orm";
import { architectureOfServerType } from "../../bundle/architecture.ts";
import type { BundleStore } from "../../bundle/store.ts";
import type { Sealer } from "../../core/secrets.ts";
import type { Db } from "../../db/index.ts";
import { instances, operations } from "../../db/schema.ts";
import { ConflictingBundleGrantError, issueBundleGrant } from "../../domain/bundles/grants.ts";
import { activeOperationStatuses, type OpenedOperation } from "../../domain/operations.ts";
import type { JobQueue } from "../../queue/queue.ts";
import { JobError, UnknownInstanceError } from "../errors.ts";

export const UPGRADE_OPERATION = "upgrade";
/** Bound of an upgrade's leave to download, in ms; the job ends it sooner, as it ends. */
export const UPGRADE_GRANT_TTL_MS = 2 * 60 * 60_000;

/** Why an upgrade cannot be asked for now; `code` is the API's error code. */
export class UpgradeRefusedError extends JobError {
  constructor(
    code: "instance_busy" | "not_running" | "unknown_bundle" | "wrong_architecture" | "upgrade_in_progress",
    message: string,
  ) {
    super(code, message);
  }
}

/** The broker did not take the job; the operation is recorded, so asking again re-adds it. */
export class UpgradeEnqueueError extends JobError {
  constructor(instanceId: string, cause: unknown) {
    super("queue_unavailable", `the upgrade of instance ${instanceId} could not be enqueued`, { cause });
  }
}

export interface UpgradeRequested {
  instanceId: string;
  operationId: string;
  bundleId: string;
  /** False when an upgrade to the same bundle was already under way and is joined. */
  created: boolean;
}

export interface UpgradeRequestDeps {
  db: Db;
  queue: JobQueue;
  sealer: Sealer;
  store: BundleStore;
  /** The configured server type: the architecture of an instance that records neither bundle nor type. */
  serverType: string;
  now: () => number;
}

export async function requestUpgrade(
  deps: UpgradeRequestDeps,
  instanceId: string,
  requestedBundleId: string | undefined,
): Promise<UpgradeRequested> {
  const instance = deps.db
    .select({ bundleId: instances.bundleId, serverType: instances.serverType })
    .from(instances)
    .where(eq(instances.id, instanceId))
    .get();
  if (!instance) throw new UnknownInstanceError(instanceId);
  // Refused before a bundle is looked for; the transaction below checks again, and that check decides.
  refuseUnlessRunningAndIdle(deps.db, instanceId);
  const running = instance.bundleId === null ? null : await deps.store.get(instance.bundleId);
  const architecture =
    running?.architecture ?? architectureOfServerType(instance.serverType ?? deps.serverType);
  const bundleId = requestedBundleId ?? (await deps.store.current())[architecture];
  const target = bundleId === undefined ? null : await deps.store.get(bundleId);
  if (bundleId === undefined || target === null) {
    throw new UpgradeRefusedError(
      "unknown_bundle",
      bundleId === undefined
        ? `no current bundle for ${architecture} servers: run \`bun run bundle --promote\` or name one with --bundle`
        : `no bundle ${bundleId} on the control plane (see \`bun run ops bundles\`)`,
    );
  }
  if (target.architecture !== architecture) {
    throw new UpgradeRefusedError(
      "wrong_architecture",
      `bundle ${bundleId} is for ${target.architecture} servers; instance ${instanceId} is ${architecture}`,
    );
  }
  // Checked and granted in the transaction that records the upgrade: no provision, reconfigure or
  // deprovision can be requested between the check and the record.
  const admit = (opened: OpenedOperation) => {
    refuseUnlessRunningAndIdle(deps.db, instanceId);
    const now = deps.now();
    try {
      issueBundleGrant(deps.db, deps.sealer, {
        grantId: opened.id,
        instanceId,
        purpose: "upgrade",
        bundleId,
        expiresAt: now + UPGRADE_GRANT_TTL_MS,
        now,
      });
    } catch (err) {
      if (!(err instanceof ConflictingBundleGrantError)) throw err;
      throw new UpgradeRefusedError(
        "upgrade_in_progress",
        `instance ${instanceId} is already being upgraded to another bundle (job ${opened.id})`,
      );
    }
  };
  const { jobId, created } = await deps.queue
    .enqueue(UPGRADE_OPERATION, instanceId, admit)
    .catch((err: unknown) => {
      if (err instanceof UpgradeRefusedError) throw err;
      throw new UpgradeEnqueueError(instanceId, err);
    });
  return { instanceId, operationId: jobId, bundleId, created };
}

/**
 * An upgrade needs a server that runs (ready, or degraded: a new bundle may be the fix) and no other
 * operation (provision, reconfigure, deprovision) in flight on the instance.
 */
function refuseUnlessRunningAndIdle(db: Db, instanceId: string): void {
  const busy = db
    .select({ id: operations.id, operation: operations.operation })
    .from(operations)
    .where(
      and(
        eq(operations.instanceId, instanceId),
        ne(operations.operation, UPGRADE_OPERATION),
        inArray(operations.status, [...activeOperationStatuses]),
      ),
    )
    .get();
  if (busy !== undefined) {
    throw new UpgradeRefusedError(
      "instance_busy",
      `instance ${instanceId} has a ${busy.operation} in flight (job ${busy.id}); upgrade it once that has ended`,
    );
  }
  const status = db
    .select({ status: instances.status })
    .from(instances)
    .where(eq(instances.id, instanceId))
    .get()?.status;
  if (status !== "ready" && status !== "degraded" && status !== "upgrading") {
    throw new UpgradeRefusedError(
      "not_running",
      `instance ${instanceId} is ${status}: only a ready or degraded server can be upgraded`,
    );
  }
}
