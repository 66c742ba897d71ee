/**
 * Step delete-server: the instance's server is deleted and its delete_server action awaited with one poll
 * timed to the expected deletion, so billing has stopped when the step ends.
 * Then the room it held goes to the first provision waiting for capacity.
 * Idempotent: a server already gone (not_found, or no id and nothing under our name) counts as deleted.
 */
import { z } from "zod";
import { clearProjectFull } from "../capacity/line.ts";
import { projectOf } from "../capacity/projects.ts";
import { wakeWaiting } from "../capacity/wake.ts";
import { deleteInstanceServer } from "../shared/remove-server.ts";
import { hetznerStepRetry } from "../shared/retry-policies.ts";
import { type Step, stepRef } from "../step.ts";
import type { DeprovisionDeps } from "./deps.ts";

/** Its output says nothing: the resources it removes are gone. */
export const deleteServerRef = stepRef("delete-server", z.null());

export function deleteServerStep(deps: DeprovisionDeps): Step<null> {
  return {
    ...deleteServerRef,
    retry: hetznerStepRetry,
    timeoutMs: 360_000,
    async run(ctx) {
      await deleteInstanceServer(deps, ctx.instanceId, {
        signal: ctx.signal,
        awaitDeletion: true,
        expectedDeletionMs: deps.expectedServerDeletionMs,
      });
      if (deps.capacity) {
        // A delete frees a place whatever Hetzner said before; the first in line gets it.
        clearProjectFull(deps.db, projectOf(deps, ctx.instanceId).name);
        await wakeWaiting({ db: deps.db, projects: deps.projects, capacity: deps.capacity });
      }
      return null;
    },
  };
}
