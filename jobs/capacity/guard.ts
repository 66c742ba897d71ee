/**
 * The capacity guard around create-server: a provision creates a server only with room in the project;
 * without, it waits durably (no worker slot held) in `waiting_for_capacity` until woken, first paid first
 * served. Hetzner's resource_limit_exceeded marks the project full and puts the provision back in line
 * instead of failing it. Its inverse gives the room back and wakes the next in line.
 */
import { eq } from "drizzle-orm";
import { operations } from "../../db/schema.ts";
import { isHetznerError } from "../../hetzner/index.ts";
import { consumePendingSignals } from "../../queue/signals.ts";
import type { Step, StepContext } from "../step.ts";
import { admitOrQueue, CAPACITY_SIGNAL, DEFAULT_PROJECT, markProjectFull, releaseRoom } from "./line.ts";
import { type CapacityDeps, wakeWaiting } from "./wake.ts";

function operationOf(deps: CapacityDeps, operationId: string) {
  const row = deps.db
    .select({ createdAt: operations.createdAt, waitSignal: operations.waitSignal })
    .from(operations)
    .where(eq(operations.id, operationId))
    .get();
  if (!row) throw new Error(`operation ${operationId} is not recorded`);
  return row;
}

/** Returns once the instance holds room; otherwise parks the job (ctx.waitFor throws to unwind). */
async function awaitRoom(deps: CapacityDeps, ctx: StepContext, now: () => number): Promise<void> {
  for (;;) {
    const op = operationOf(deps, ctx.jobId);
    const request = { instanceId: ctx.instanceId, operationId: ctx.jobId, requestedAt: op.createdAt };
    const admission = admitOrQueue(deps.db, request, DEFAULT_PROJECT, deps.capacity, now());
    if (admission.kind === "admitted") return;
    // Logged once per wait: a resumed wait still carries its signal name.
    if (op.waitSignal !== CAPACITY_SIGNAL)
      ctx.log.warn({ position: admission.position }, "provision waiting for capacity");
    await ctx.waitFor(CAPACITY_SIGNAL, { timeoutMs: deps.capacity.waitTimeoutMs });
    // Woken: that wake-up is spent, so if another took the room the next wait parks again.
    consumePendingSignals(deps.db, ctx.instanceId, CAPACITY_SIGNAL, now());
  }
}

/** Hetzner's resource_limit_exceeded, as thrown or as the cause create-server explained it with. */
function isLimitRefusal(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return isHetznerError(err, "resource_limit_exceeded") || isHetznerError(cause, "resource_limit_exceeded");
}

export function withCapacityGuard<O>(deps: CapacityDeps & { now?: () => number }, inner: Step<O>): Step<O> {
  const now = deps.now ?? Date.now;
  return {
    ...inner,
    async run(ctx) {
      for (;;) {
        await awaitRoom(deps, ctx, now);
        try {
          return await inner.run(ctx);
        } catch (err) {
          if (!isLimitRefusal(err)) throw err;
          // Hetzner knows the real limit: until a delete or a new configured limit, the project counts as full.
          ctx.log.warn({ project: DEFAULT_PROJECT }, "Hetzner project full: server limit exceeded");
          markProjectFull(deps.db, DEFAULT_PROJECT, deps.capacity, now());
          releaseRoom(deps.db, ctx.instanceId, now());
        }
      }
    },
    async compensate(ctx, output) {
      await inner.compensate?.(ctx, output);
      releaseRoom(deps.db, ctx.instanceId, now());
      await wakeWaiting(deps);
    },
  };
}
