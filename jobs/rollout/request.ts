/**
 * `ops rollout`: starting a rollout of a bundle to every running instance of its architecture that runs
 * another bundle, and pausing or resuming the one under way. The rollout is recorded first, then its job is
 * made due; a broker that did not take it leaves the record, and `resume` (or asking again) adds it.
 */
import type { BundleStore } from "../../bundle/store.ts";
import type { Db } from "../../db/index.ts";
import { JobError } from "../errors.ts";
import type { RolloutBroker } from "./broker.ts";
import { instancesToUpgrade } from "./candidates.ts";
import {
  createRollout,
  RolloutInProgressError,
  type RolloutRow,
  setRolloutStatus,
  unfinishedRollout,
} from "./store.ts";

/** Defaults of `ops rollout`: one canary, batches of five, no failure tolerated. */
export const ROLLOUT_DEFAULTS = { canary: 1, batchSize: 5, maxFailures: 0 } as const;

export interface RolloutSettings {
  canary: number;
  batchSize: number;
  maxFailures: number;
}

/** Why a rollout cannot be started, paused or resumed now; `code` is the API's error code. */
export class RolloutRefusedError extends JobError {
  constructor(
    code: "unknown_bundle" | "rollout_in_progress" | "nothing_to_upgrade" | "no_rollout" | "wrong_state",
    message: string,
  ) {
    super(code, message);
  }
}

/** The rollout is recorded but the broker did not take its job: `ops rollout resume` adds it. */
export class RolloutNotQueuedError extends JobError {
  constructor(rolloutId: string, cause: unknown) {
    super("queue_unavailable", `rollout ${rolloutId} is recorded but the job queue did not take it`, {
      cause,
    });
  }
}

export interface RolloutRequestDeps {
  db: Db;
  store: BundleStore;
  broker: Pick<RolloutBroker, "runNow">;
  /** The configured server type: the architecture of an instance that records no bundle. */
  serverType: string;
  now: () => number;
}

export async function startRollout(
  deps: RolloutRequestDeps,
  bundleId: string,
  settings: RolloutSettings,
): Promise<RolloutRow> {
  const target = await deps.store.get(bundleId);
  if (target === null) {
    throw new RolloutRefusedError(
      "unknown_bundle",
      `no bundle ${bundleId} on the control plane (see \`bun run ops bundles\`)`,
    );
  }
  const members = await instancesToUpgrade(deps, bundleId, target.architecture);
  if (members.length === 0) {
    throw new RolloutRefusedError(
      "nothing_to_upgrade",
      `no running ${target.architecture} instance runs another bundle than ${bundleId}`,
    );
  }
  let rollout: RolloutRow;
  try {
    rollout = createRollout(deps.db, {
      bundleId,
      architecture: target.architecture,
      ...settings,
      members,
      now: deps.now(),
    });
  } catch (err) {
    if (err instanceof RolloutInProgressError) {
      throw new RolloutRefusedError("rollout_in_progress", err.message);
    }
    throw err;
  }
  await deps.broker.runNow(rollout.id).catch((err: unknown) => {
    throw new RolloutNotQueuedError(rollout.id, err);
  });
  return rollout;
}

/** Stops starting upgrades (those in flight finish); throws RolloutRefusedError. */
export function pauseRollout(deps: Pick<RolloutRequestDeps, "db" | "now">): RolloutRow {
  const rollout = requireUnfinished(deps.db);
  if (!setRolloutStatus(deps.db, rollout.id, ["running"], "paused", deps.now())) {
    throw new RolloutRefusedError("wrong_state", `rollout ${rollout.id} is ${rollout.status}, not running`);
  }
  return { ...rollout, status: "paused" };
}

/** Starts upgrades again, at once; also re-adds a job the broker lost. Throws RolloutRefusedError. */
export async function resumeRollout(
  deps: Pick<RolloutRequestDeps, "db" | "broker" | "now">,
): Promise<RolloutRow> {
  const rollout = requireUnfinished(deps.db);
  if (rollout.status === "halted") {
    throw new RolloutRefusedError(
      "wrong_state",
      `rollout ${rollout.id} halted (${rollout.haltReason}); it finishes its rollbacks by itself, then start a new one`,
    );
  }
  setRolloutStatus(deps.db, rollout.id, ["paused"], "running", deps.now());
  await deps.broker.runNow(rollout.id).catch((err: unknown) => {
    throw new RolloutNotQueuedError(rollout.id, err);
  });
  return { ...rollout, status: "running" };
}

function requireUnfinished(db: Db): RolloutRow {
  const rollout = unfinishedRollout(db);
  if (rollout === undefined) throw new RolloutRefusedError("no_rollout", "no rollout is under way");
  return rollout;
}
