/**
 * Step delete-ssh-key: the instance's SSH key is removed from Hetzner.
 * Idempotent: a key already gone counts as deleted.
 */
import { z } from "zod";
import { deleteInstanceSshKey } from "../shared/remove-ssh-key.ts";
import { hetznerStepRetry } from "../shared/retry-policies.ts";
import { type Step, stepRef } from "../step.ts";
import type { DeprovisionDeps } from "./deps.ts";

/** Its output says nothing: the resources it removes are gone. */
export const deleteSshKeyRef = stepRef("delete-ssh-key", z.null());

export function deleteSshKeyStep(deps: DeprovisionDeps): Step<null> {
  return {
    ...deleteSshKeyRef,
    retry: hetznerStepRetry,
    timeoutMs: 60_000,
    async run(ctx) {
      await deleteInstanceSshKey(deps, ctx.instanceId, ctx.signal);
      return null;
    },
  };
}
