/**
 * Step protect-server: the customer's server gets Hetzner's delete protection before the instance is ready,
 * so no bad decision of ours (a sweep, a script) can delete a paying customer's server; only a deprovision
 * lifts it. Inverse: the compensation lifts it again, so the rollback can delete the server.
 * Idempotent: change_protection to the value already set is accepted.
 */
import { PermanentError } from "../../errors.ts";
import { hetznerStepRetry } from "../../shared/retry-policies.ts";
import {
  type ProtectionOutcome,
  protectionOutcomeSchema,
  setDeleteProtection,
} from "../../shared/server-protection.ts";
import { type Step, stepRef } from "../../step.ts";
import type { ProvisionDeps } from "./deps.ts";

export const protectServerRef = stepRef("protect-server", protectionOutcomeSchema);

export function protectServerStep(deps: ProvisionDeps): Step<ProtectionOutcome> {
  return {
    ...protectServerRef,
    retry: hetznerStepRetry,
    timeoutMs: 90_000,
    async run(ctx) {
      const outcome = await setDeleteProtection(deps, ctx.instanceId, true, ctx.signal);
      // No server here means an earlier step's work vanished: retrying cannot make the instance ready.
      if (outcome.serverId === null)
        throw new PermanentError(`instance ${ctx.instanceId} has no server to protect`);
      return outcome;
    },
    async compensate(ctx) {
      await setDeleteProtection(deps, ctx.instanceId, false, ctx.signal);
    },
  };
}
