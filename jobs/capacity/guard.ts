/**
 * The capacity guard of a provision. Step place, its first, takes room in a Hetzner project (placement.ts)
 * or waits durably (no worker slot held) in `waiting_for_capacity` until woken, first paid first served.
 * Around create-server, Hetzner's resource_limit_exceeded marks the project full and moves the provision:
 * what it made in that project is removed, it is placed anew (another project, or the line) and makes it
 * there. The inverse gives the room back and wakes the next in line.
 */
import { eq } from "drizzle-orm";
import { z } from "zod";
import { instances, operations } from "../../db/schema.ts";
import { isHetznerError } from "../../hetzner/index.ts";
import { consumePendingSignals } from "../../queue/signals.ts";
import { type Step, type StepContext, type StepRef, stepRef } from "../step.ts";
import { admitOrQueue, CAPACITY_SIGNAL, markProjectFull, releaseRoom } from "./line.ts";
import { type CapacityDeps, settingsOf, wakeWaiting } from "./wake.ts";

type GuardDeps = CapacityDeps & { now?: () => number };

export const placeRef = stepRef(
  "place",
  z.object({
    /** The Hetzner project the provision took room in. */
    project: z.string(),
  }),
);
export type PlaceOutput = z.infer<typeof placeRef.output>;

/**
 * What a provision makes in its project before the server (its SSH key, the firewall): made anew after a
 * move to another project, removed from the one it leaves.
 */
export interface ProjectBinding {
  /**
   * Ensures the resources exist in the instance's project; returns them as create-server reads them (the
   * outputs of the steps that made them, by step name), in place of what those steps stored.
   */
  bind(ctx: StepContext): Promise<ReadonlyMap<string, unknown>>;
  /** Removes them from the instance's project, which it is about to leave. */
  release(ctx: StepContext): Promise<void>;
}

function operationOf(deps: CapacityDeps, operationId: string) {
  const row = deps.db
    .select({ createdAt: operations.createdAt, waitSignal: operations.waitSignal })
    .from(operations)
    .where(eq(operations.id, operationId))
    .get();
  if (!row) throw new Error(`operation ${operationId} is not recorded`);
  return row;
}

/** Returns the project the instance now holds room in; otherwise parks the job (ctx.waitFor throws to unwind). */
async function awaitRoom(deps: GuardDeps, ctx: StepContext): Promise<string> {
  const now = deps.now ?? Date.now;
  for (;;) {
    const op = operationOf(deps, ctx.jobId);
    const request = { instanceId: ctx.instanceId, operationId: ctx.jobId, requestedAt: op.createdAt };
    const admission = admitOrQueue(deps.db, request, settingsOf(deps), now());
    if (admission.kind === "admitted") return admission.project;
    // Logged once per wait: a resumed wait still carries its signal name.
    if (op.waitSignal !== CAPACITY_SIGNAL)
      ctx.log.warn({ position: admission.position }, "provision waiting for capacity");
    await ctx.waitFor(CAPACITY_SIGNAL, { timeoutMs: deps.capacity.waitTimeoutMs });
    // Woken: that wake-up is spent, so if another took the room the next wait parks again.
    consumePendingSignals(deps.db, ctx.instanceId, CAPACITY_SIGNAL, now());
  }
}

/** Gives the instance's room back and lets the first waiters try for it. */
async function giveRoomBack(deps: GuardDeps, instanceId: string): Promise<void> {
  releaseRoom(deps.db, instanceId, (deps.now ?? Date.now)());
  await wakeWaiting(deps);
}

/**
 * Step place: a project with room for the instance's server, or a durable wait in line for one.
 * Idempotent: placing again re-counts the room without the instance's own, so a re-run takes the same room.
 */
export function placeStep(deps: GuardDeps): Step<PlaceOutput> {
  return {
    ...placeRef,
    retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2_000 },
    timeoutMs: 60_000,
    async run(ctx) {
      return { project: await awaitRoom(deps, ctx) };
    },
    async compensate(ctx) {
      await giveRoomBack(deps, ctx.instanceId);
    },
  };
}

function placedProject(deps: CapacityDeps, instanceId: string): string | null {
  const row = deps.db
    .select({ project: instances.hetznerProject })
    .from(instances)
    .where(eq(instances.id, instanceId))
    .get();
  return row?.project ?? null;
}

/** `ctx` whose reads of the steps in `bound` get those values (checked by each step's schema) instead. */
function withOutputs(ctx: StepContext, bound: ReadonlyMap<string, unknown>): StepContext {
  const read = <O>(ref: StepRef<O>) =>
    bound.has(ref.name) ? ref.output.parse(bound.get(ref.name)) : undefined;
  return {
    ...ctx,
    outputOf: (ref) => read(ref) ?? ctx.outputOf(ref),
    optionalOutputOf: (ref) => read(ref) ?? ctx.optionalOutputOf(ref),
  };
}

/** Hetzner's resource_limit_exceeded, as thrown or as the cause create-server explained it with. */
function isLimitRefusal(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return isHetznerError(err, "resource_limit_exceeded") || isHetznerError(cause, "resource_limit_exceeded");
}

/** create-server that moves to another project (or the line) when Hetzner says its project is full. */
export function withCapacityGuard<O>(deps: GuardDeps, inner: Step<O>, binding: ProjectBinding): Step<O> {
  const now = deps.now ?? Date.now;
  return {
    ...inner,
    async run(ctx) {
      for (;;) {
        // No project: a limit refusal moved the instance out of its own (in this attempt or one cut short).
        if (placedProject(deps, ctx.instanceId) === null) await awaitRoom(deps, ctx);
        const bound = await binding.bind(ctx);
        try {
          return await inner.run(withOutputs(ctx, bound));
        } catch (err) {
          if (!isLimitRefusal(err)) throw err;
          const project = placedProject(deps, ctx.instanceId);
          // Hetzner knows the real limit: until a delete or a new configured limit, the project counts as full.
          ctx.log.warn({ project }, "Hetzner project full: server limit exceeded");
          await binding.release(ctx);
          if (project !== null) markProjectFull(deps.db, project, ctx.instanceId, settingsOf(deps), now());
        }
      }
    },
    // The room is given back by place's inverse, last: the steps undone before it still reach this project.
  };
}
