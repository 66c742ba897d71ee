/**
 * The upgrade job: one running server moves to another app bundle over the pinned SSH session, with no new
 * server, no Hetzner request and no cloud-init. stage-release unpacks the bundle beside the running release,
 * switch-release points `current` at it and restarts the unit, verify-release checks the bot and switches
 * back when the app fails. What the app wrote lives outside every release, so neither way touches it.
 */
import type { JobDefinition } from "../step.ts";
import type { UpgradeDeps } from "./deps.ts";
import { UPGRADE_OPERATION } from "./request.ts";
import { stageReleaseStep } from "./stage-release.ts";
import { switchReleaseStep } from "./switch-release.ts";
import { UPGRADE_ROLLED_BACK, verifyReleaseStep } from "./verify-release.ts";

export function createUpgradeJob(deps: UpgradeDeps): JobDefinition {
  return {
    name: UPGRADE_OPERATION,
    instanceStatus: {
      running: "upgrading",
      succeeded: "ready",
      // Before the switch, or once rolled back, the old release runs as before; otherwise nobody knows.
      failed: (error) =>
        error.step === "stage-release" || error.code === UPGRADE_ROLLED_BACK ? "ready" : "degraded",
    },
    steps: [stageReleaseStep(deps), switchReleaseStep(deps), verifyReleaseStep(deps)],
  };
}
