/**
 * Step delete-server: the instance's server is deleted and its delete_server action awaited with one poll
 * timed to the expected deletion, so billing has stopped when the step ends.
 * Idempotent: a server already gone (not_found, or no id and nothing under our name) counts as deleted.
 */
import { deleteInstanceServer } from "../provision/steps/remove-server.ts";
import { hetznerStepRetry } from "../provision/steps/retry-policies.ts";
import type { Step } from "../step.ts";
import type { DeprovisionDeps } from "./deps.ts";

export function deleteServerStep(deps: DeprovisionDeps): Step<null> {
  return {
    name: "delete-server",
    retry: hetznerStepRetry,
    timeoutMs: 360_000,
    async run(ctx) {
      await deleteInstanceServer(deps, ctx.instanceId, {
        signal: ctx.signal,
        awaitDeletion: true,
        expectedDeletionMs: deps.expectedServerDeletionMs,
      });
      return null;
    },
  };
}
