/**
 * Step delete-ssh-key: the instance's SSH key is removed from Hetzner.
 * Idempotent: a key already gone counts as deleted.
 */
import { deleteInstanceSshKey } from "../shared/remove-ssh-key.ts";
import { hetznerStepRetry } from "../shared/retry-policies.ts";
import type { Step } from "../step.ts";
import type { DeprovisionDeps } from "./deps.ts";

export function deleteSshKeyStep(deps: DeprovisionDeps): Step<null> {
  return {
    name: "delete-ssh-key",
    retry: hetznerStepRetry,
    timeoutMs: 60_000,
    async run(ctx) {
      await deleteInstanceSshKey(deps, ctx.instanceId, ctx.signal);
      return null;
    },
  };
}
