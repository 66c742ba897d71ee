/**
 * The provision job: a paid customer's instance becomes a running, verified Rachel8 bot on its own server.
 * This file only sequences the steps; each lives in steps/ with its idempotency rule. On a final failure
 * the runner undoes the finished steps newest first (protection, server, SSH key, then the room) and marks the
 * instance failed.
 */
import { placeStep, withCapacityGuard } from "../capacity/guard.ts";
import type { JobDefinition } from "../step.ts";
import { PROVISION_OPERATION } from "./operation.ts";
import { awaitCloudInitStep } from "./steps/await-cloud-init.ts";
import { createServerStep } from "./steps/create-server.ts";
import type { ProvisionDeps } from "./steps/deps.ts";
import { finalizeStep } from "./steps/finalize.ts";
import { firewallStep } from "./steps/firewall.ts";
import { injectSecretsStep } from "./steps/inject-secrets.ts";
import { projectBinding } from "./steps/project-binding.ts";
import { protectServerStep } from "./steps/protect-server.ts";
import { sshKeyStep } from "./steps/ssh-key.ts";
import { verifyStep } from "./steps/verify.ts";

export type { ProvisionDeps, ProvisionSettings } from "./steps/deps.ts";
export type { FinalizeOutput } from "./steps/finalize.ts";

export function createProvisionJob(deps: ProvisionDeps): JobDefinition {
  const capacity = deps.capacity && { ...deps, capacity: deps.capacity };
  return {
    name: PROVISION_OPERATION,
    instanceStatus: { running: "provisioning", succeeded: "ready" },
    steps: [
      ...(capacity ? [placeStep(capacity)] : []),
      sshKeyStep(deps),
      firewallStep(deps),
      capacity
        ? withCapacityGuard(capacity, createServerStep(deps), projectBinding(deps))
        : createServerStep(deps),
      awaitCloudInitStep(deps),
      injectSecretsStep(deps),
      verifyStep(deps),
      protectServerStep(deps),
      finalizeStep(deps),
    ],
  };
}
