/**
 * Step stage-release: the new bundle's release is unpacked on the server beside the running one. The
 * upgrade grant the request issued under this operation's id is opened (its token goes to the server on the
 * session's stdin only), and the server fetches, checks (sha256) and unpacks the bundle as at first boot.
 * Records which bundle `current` pointed at, the one a failed verify switches back to.
 * Idempotent: a release already unpacked is not fetched again, and `current` is only read.
 * Compensation: ends the grant (an upgrade that failed fetches nothing more).
 */
import { bundleDownloadUrl, endBundleGrant, openBundleGrant } from "../../domain/bundles/grants.ts";
import { JobError } from "../errors.ts";
import { connectToServer } from "../shared/connect-server.ts";
import { sshStepRetry } from "../shared/retry-policies.ts";
import type { Step } from "../step.ts";
import type { UpgradeDeps } from "./deps.ts";
import { STAGE_TIMEOUT_MS, stageRelease } from "./release.ts";

export interface StageReleaseOutput {
  bundleId: string;
  /** The bundle running before the upgrade; null on a server without a release (never booted from one). */
  previousBundleId: string | null;
}

/** The request stores the operation before it issues the grant: a worker quicker than that tries again. */
export class UpgradeGrantMissingError extends JobError {
  constructor(operationId: string) {
    super("upgrade_grant_missing", `no live upgrade grant was issued for ${operationId}`);
  }
}

export function stageReleaseStep(deps: UpgradeDeps): Step<StageReleaseOutput> {
  return {
    name: "stage-release",
    retry: sshStepRetry,
    timeoutMs: STAGE_TIMEOUT_MS + 30_000,
    async run(ctx) {
      const grant = openBundleGrant(deps.db, deps.sealer, ctx.jobId, (deps.now ?? Date.now)());
      if (grant === null || !grant.live || grant.instanceId !== ctx.instanceId) {
        throw new UpgradeGrantMissingError(ctx.jobId);
      }
      const url = bundleDownloadUrl(
        deps.settings.publicBaseUrl.replace(/\/+$/, ""),
        ctx.instanceId,
        grant.bundleId,
      );
      const session = await connectToServer(deps, ctx.instanceId, ctx.outputs, ctx.signal);
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
