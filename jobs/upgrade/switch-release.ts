/**
 * Step switch-release: `current` points at the staged release (a new link renamed over it, so the unit
 * never sees a missing or half-written one) and the unit restarts on it, its start limit cleared first.
 * Idempotent: switching to the release already current renames an equal link, and restarting again is
 * harmless.
 */

import { RACHEL8_UNIT_NAME } from "../../domain/rachel8.ts";
import { connectToServer } from "../shared/connect-server.ts";
import { sshStepRetry } from "../shared/retry-policies.ts";
import type { Step } from "../step.ts";
import type { UpgradeDeps } from "./deps.ts";
import { SWITCH_TIMEOUT_MS, switchRelease } from "./release.ts";
import type { StageReleaseOutput } from "./stage-release.ts";

export function switchReleaseStep(deps: UpgradeDeps): Step<void> {
  return {
    name: "switch-release",
    retry: sshStepRetry,
    timeoutMs: SWITCH_TIMEOUT_MS + 30_000,
    async run(ctx) {
      const staged = ctx.outputs["stage-release"] as StageReleaseOutput;
      const session = await connectToServer(deps, ctx.instanceId, ctx.outputs, ctx.signal);
      await switchRelease(session, staged.bundleId, RACHEL8_UNIT_NAME, ctx.signal).catch(
        async (err: unknown) => {
          await session.close();
          throw err;
        },
      );
      await deps.sessions.handOver(session);
    },
  };
}
