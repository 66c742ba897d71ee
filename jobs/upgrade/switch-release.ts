/**
 * Step switch-release: `current` points at the staged release (a new link renamed over it, so the unit
 * never sees a missing or half-written one) and the unit restarts on it, its start limit cleared first.
 * Idempotent: switching to the release already current renames an equal link, and restarting again is
 * harmless.
 */
import { z } from "zod";
import { RACHEL8_UNIT_NAME } from "../../domain/rachel8.ts";
import { connectToServer } from "../shared/connect-server.ts";
import { sshStepRetry } from "../shared/retry-policies.ts";
import { type Step, stepRef } from "../step.ts";
import type { UpgradeDeps } from "./deps.ts";
import { SWITCH_TIMEOUT_MS, switchRelease } from "./release.ts";
import { stageReleaseRef } from "./stage-release.ts";

export const switchReleaseRef = stepRef("switch-release", z.null());

export function switchReleaseStep(deps: UpgradeDeps): Step<null> {
  return {
    ...switchReleaseRef,
    retry: sshStepRetry,
    timeoutMs: SWITCH_TIMEOUT_MS + 30_000,
    async run(ctx) {
      const staged = ctx.outputOf(stageReleaseRef);
      const session = await connectToServer(deps, ctx.instanceId, undefined, ctx.signal);
      await switchRelease(session, staged.bundleId, RACHEL8_UNIT_NAME, ctx.signal).catch(
        async (err: unknown) => {
          await session.close();
          throw err;
        },
      );
      await deps.sessions.handOver(session);
      return null;
    },
  };
}
