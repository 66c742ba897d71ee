/**
 * Step verify-release: the bot runs on the new release (the provision's verify checks). When the app
 * itself fails them (a check that can never pass by asking again, e.g. a crash loop), `current` is switched
 * back to the previous release and the unit restarted and verified on it; the upgrade then fails with
 * `upgrade_rolled_back`, the instance staying ready on its old bundle (degraded only if that fails too).
 * On success the instance's bundle is recorded and the grant ended.
 * Idempotent: it reads `current` first, so an attempt that finds a rollback begun finishes it instead.
 */
import { z } from "zod";
import { endBundleGrant } from "../../domain/bundles/grants.ts";
import { recordInstanceBundle } from "../../domain/bundles/usage.ts";
import { RACHEL8_UNIT_NAME } from "../../domain/rachel8.ts";
import type { RemoteSession } from "../../remote/session.ts";
import { shellQuote } from "../../remote/shell-quote.ts";
import { PermanentError } from "../errors.ts";
import { APP_ROOT } from "../provision/cloud-init/bundle-boot.ts";
import { verifyBotRuns, verifyOutputSchema } from "../provision/steps/verify.ts";
import { connectToServer } from "../shared/connect-server.ts";
import { type InstanceRow, loadInstance } from "../shared/instance-row.ts";
import { sshStepRetry } from "../shared/retry-policies.ts";
import { type Step, stepRef } from "../step.ts";
import type { UpgradeDeps } from "./deps.ts";
import { switchRelease } from "./release.ts";
import { type StageReleaseOutput, stageReleaseRef } from "./stage-release.ts";

/** The error code of an upgrade whose new release failed and whose old one runs again. */
export const UPGRADE_ROLLED_BACK = "upgrade_rolled_back";
/** The error code of an upgrade that could not bring even the old release back up. */
export const ROLLBACK_FAILED = "rollback_failed";

export const verifyReleaseRef = stepRef(
  "verify-release",
  verifyOutputSchema.extend({ bundleId: z.string() }),
);
export type VerifyReleaseOutput = z.infer<typeof verifyReleaseRef.output>;

export function verifyReleaseStep(deps: UpgradeDeps): Step<VerifyReleaseOutput> {
  return {
    ...verifyReleaseRef,
    retry: sshStepRetry,
    // Two verifies (the new release, then the old one) and a switch in between.
    timeoutMs: 2 * (deps.settings.verifySettleMs + 60_000) + 90_000,
    async run(ctx) {
      const staged = ctx.outputOf(stageReleaseRef);
      const row = loadInstance(deps.db, ctx.instanceId);
      const session = await connectToServer(deps, row, undefined, ctx.signal);
      try {
        const current = await currentBundle(session, ctx.signal);
        const rollbackBegun = current !== null && current !== staged.bundleId;
        let failure: unknown = null;
        if (!rollbackBegun) {
          try {
            const verified = await verifyBotRuns(deps, row, session, ctx.signal);
            recordInstanceBundle(deps.db, ctx.instanceId, staged.bundleId, (deps.now ?? Date.now)());
            endBundleGrant(deps.db, ctx.jobId, (deps.now ?? Date.now)());
            return { ...verified, bundleId: staged.bundleId };
          } catch (err) {
            // Network trouble is retried as it is; only the app failing its checks is a reason to go back.
            if (!sshStepRetry.isPermanent?.(err)) throw err;
            failure = err;
          }
        }
        await rollBack(deps, ctx.instanceId, ctx.jobId, staged, { session, row, signal: ctx.signal });
        const why = failure instanceof Error ? failure.message : "an earlier attempt began the rollback";
        throw new PermanentError(
          `bundle ${staged.bundleId} failed its checks, so ${staged.previousBundleId} runs again: ${why}`,
          { code: UPGRADE_ROLLED_BACK },
        );
      } finally {
        await session.close();
      }
    },
  };
}

async function rollBack(
  deps: UpgradeDeps,
  instanceId: string,
  operationId: string,
  staged: StageReleaseOutput,
  on: { session: RemoteSession; row: InstanceRow; signal: AbortSignal },
): Promise<void> {
  endBundleGrant(deps.db, operationId, (deps.now ?? Date.now)());
  const previous = staged.previousBundleId;
  if (previous === null) {
    throw new PermanentError(
      `bundle ${staged.bundleId} failed its checks and there is no release to go back to`,
      {
        code: ROLLBACK_FAILED,
      },
    );
  }
  try {
    await switchRelease(on.session, previous, RACHEL8_UNIT_NAME, on.signal);
    await verifyBotRuns(deps, on.row, on.session, on.signal);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new PermanentError(
      `bundle ${staged.bundleId} failed its checks, and so did ${previous} after switching back: ${why}`,
      {
        code: ROLLBACK_FAILED,
        cause: err,
      },
    );
  }
  recordInstanceBundle(deps.db, instanceId, previous, (deps.now ?? Date.now)());
}

/** The bundle `current` points at now, or null. */
async function currentBundle(session: RemoteSession, signal: AbortSignal): Promise<string | null> {
  const result = await session.exec(`readlink ${shellQuote(`${APP_ROOT}/current`)}`, {
    timeoutMs: 15_000,
    signal,
  });
  const id = result.stdout.trim().split("/").pop() ?? "";
  return result.code === 0 && /^[0-9a-f]{64}$/.test(id) ? id : null;
}
