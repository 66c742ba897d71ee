/**
 * Step shred-secrets: crypto-shred. The customer's sealed secrets and the instance's sealed SSH private
 * key and callback token are nulled, so nothing of them remains decryptable; deprovisionedAt is stamped.
 * Idempotent: nulling what is already null changes nothing.
 */
import { z } from "zod";
import { loadInstance, updateInstance } from "../shared/instance-row.ts";
import { type Step, stepRef } from "../step.ts";
import type { DeprovisionDeps } from "./deps.ts";

/** Its output says nothing: the resources it removes are gone. */
export const shredSecretsRef = stepRef("shred-secrets", z.null());

export function shredSecretsStep(deps: DeprovisionDeps): Step<null> {
  const now = deps.now ?? Date.now;
  return {
    ...shredSecretsRef,
    retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2_000 },
    timeoutMs: 10_000,
    async run(ctx) {
      const { customerId } = loadInstance(deps.db, ctx.instanceId);
      updateInstance(
        deps.db,
        ctx.instanceId,
        { sshPrivateKey: null, callbackToken: null, deprovisionedAt: now() },
        now(),
      );
      // Last: the customer shred checkpoints the WAL, which is what wipes the instance's old ciphertext too.
      if (customerId !== null) deps.customers.shred(customerId);
      return null;
    },
  };
}
