/**
 * Step unprotect-server: the server's delete protection (set when the instance became ready) is lifted,
 * the one place outside a provision's rollback that does so, right before delete-server.
 * Idempotent: lifting a protection already off is accepted; no server (or gone) counts as done.
 */
import { hetznerStepRetry } from "../shared/retry-policies.ts";
import { type ProtectionOutcome, setDeleteProtection } from "../shared/server-protection.ts";
import type { Step } from "../step.ts";
import type { DeprovisionDeps } from "./deps.ts";

export function unprotectServerStep(deps: DeprovisionDeps): Step<ProtectionOutcome> {
  return {
    name: "unprotect-server",
    retry: hetznerStepRetry,
    timeoutMs: 90_000,
    run: (ctx) => setDeleteProtection(deps, ctx.instanceId, false, ctx.signal),
  };
}
