/**
 * Step unprotect-server: the server's delete protection (set when the instance became ready) is lifted,
 * the one place outside a provision's rollback that does so, right before delete-server.
 * Idempotent: lifting a protection already off is accepted; no server (or gone) counts as done.
 */
import { hetznerStepRetry } from "../shared/retry-policies.ts";
import {
  type ProtectionOutcome,
  protectionOutcomeSchema,
  setDeleteProtection,
} from "../shared/server-protection.ts";
import { type Step, stepRef } from "../step.ts";
import type { DeprovisionDeps } from "./deps.ts";

export const unprotectServerRef = stepRef("unprotect-server", protectionOutcomeSchema);

export function unprotectServerStep(deps: DeprovisionDeps): Step<ProtectionOutcome> {
  return {
    ...unprotectServerRef,
    retry: hetznerStepRetry,
    timeoutMs: 90_000,
    run: (ctx) => setDeleteProtection(deps, ctx.instanceId, false, ctx.signal),
  };
}
