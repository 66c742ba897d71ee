/**
 * Step stage-release: the new bundle's release is unpacked on the server beside the running one. The
 * upgrade grant the request issued under this operation's id is opened (its token goes to the server on the
 * session's stdin only), and the server fetches, checks (sha256) and unpacks the bundle as at first boot.
 * Records which bundle `current` pointed at, the one a failed verify switches back to. A re-run after a
 * failure (which ended the grant) renews it.
 * Idempotent: a release already unpacked is not fetched again, and `current` is only read.
 * Compensation: ends the grant (an upgrade that failed fetches nothing more).
 */
import { z } from "zod";
import {
  bundleDownloadUrl,
  endBundleGrant,
  openBundleGrant,
  renewBundleGrant,
} from "../../domain/bundles/grants.ts";
import { JobError } from "../errors.ts";
import { connectToServer } from "../shared/connect-server.ts";
import { sshStepRetry } from "../shared/retry-policies.ts";
import { type Step, stepRef } from "../step.ts";
import type { UpgradeDeps } from "./deps.ts";
import { STAGE_TIMEOUT_MS, stageRelease } from "./release.ts";
import { UPGRADE_GRANT_TTL_MS } from "./request.ts";

export const stageReleaseRef = stepRef(
  "stage-release",
  z.object({
    bundleId: z.string(),
    /** The bundle running before the upgrade; null on a server without a release (never booted from one). */
    previousBundleId: z.string().nullable(),
  }),
);
export type StageReleaseOutput = z.infer<typeof stageReleaseRef.output>;

/** Every upgrade request issues its grant with its operation; one without it was recorded by older code. */
export class UpgradeGrantMissingError extends JobError {
  constructor(operationId: string) {
    super("upgrade_grant_missing", `no live upgrade grant was issued for ${operationId}`);
  }
}

export function stageReleaseStep(deps: UpgradeDeps): Step<StageReleaseOutput> {
  return {
    ...stageReleaseRef,
    retry: sshStepRetry,
    timeoutMs: STAGE_TIMEOUT_MS + 30_000,
    async run(ctx) {
      const now = (deps.now ?? Date.now)();
      const grant = openBundleGrant(deps.db, deps.sealer, ctx.jobId, now);
      if (grant === null || grant.instanceId !== ctx.instanceId)
        throw new UpgradeGrantMissingError(ctx.jobId);
      // Ended by an earlier run's failure: this run (an operator's retry) needs the leave again.
      if (!grant.live) renewBundleGrant(deps.db, ctx.jobId, now + UPGRADE_GRANT_TTL_MS);
      const url = bundleDownloadUrl(
        deps.settings.publicBaseUrl.replace(/\/+$/, ""),
        ctx.instanceId,
        grant.bundleId,
      );
      const session = await connectToServer(deps, ctx.instanceId, undefined, ctx.signal);
      const previousBundleId = await stageRelease(
        session,
        { bundleId: grant.bundleId, url, token: grant.token },
        ctx.signal,
      ).catch(async (err: unknown) => {
        await session.close();
        throw err;
      });
      await deps.sessions.handOver(session);
      return { bundleId: grant.bundleId, previousBundleId };
    },
    async compensate(ctx) {
      endBundleGrant(deps.db, ctx.jobId, (deps.now ?? Date.now)());
    },
  };
}
