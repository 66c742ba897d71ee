/**
 * Step await-cloud-init: a durable wait (no worker slot held) for the server's phone_home callback, which
 * carries the host key SSH will pin. Waits in two stages so a failed create/start is caught without
 * polling on the happy path: first until a normal boot has started, then ONE batched look at the
 * create/start actions (failing fast with the action's error), then for the rest of the deadline.
 * Idempotent: the deadline counts from the server's creation, so a re-run never extends it. A report the
 * API stored whose signal was lost (the API died between the two) is taken from the instance at that look.
 */
import { z } from "zod";
import { type Action, HetznerActionError } from "../../../hetzner/index.ts";
import { clientOf } from "../../capacity/projects.ts";
import { PermanentError, WaitTimeoutError } from "../../errors.ts";
import { loadInstance } from "../../shared/instance-row.ts";
import { hetznerStepRetry } from "../../shared/retry-policies.ts";
import { type Step, stepRef } from "../../step.ts";
import { CLOUD_INIT_READY_SIGNAL } from "../callback-token.ts";
import { type CreateServerOutput, createServerRef } from "./create-server.ts";
import type { ProvisionDeps } from "./deps.ts";

export const awaitCloudInitRef = stepRef(
  "await-cloud-init",
  z.object({
    /** The server's ed25519 host key as its callback reported it; the only key SSH accepts. */
    hostKey: z.string().startsWith("ssh-ed25519 "),
  }),
);
export type AwaitCloudInitOutput = z.infer<typeof awaitCloudInitRef.output>;

/**
 * Latest point of the one action check, in ms: a normal boot (create 60-90 s, guest boot ~10 s, see
 * sim/README.md) has phoned home by then, so the happy path never spends a request on it.
 */
const DEFAULT_ACTION_CHECK_AFTER_MS = 120_000;

export function awaitCloudInitStep(deps: ProvisionDeps): Step<AwaitCloudInitOutput> {
  const now = deps.now ?? Date.now;
  const totalMs = deps.settings.cloudInitTimeoutMs;
  const checkAfterMs = deps.actionCheckAfterMs ?? Math.min(DEFAULT_ACTION_CHECK_AFTER_MS, totalMs / 2);
  return {
    ...awaitCloudInitRef,
    // The wait is the retry: a timed-out callback or a failed action does not come right by trying again.
    retry: { ...hetznerStepRetry, attempts: 1 },
    // One attempt spans the whole wait, parks included; the bound only covers the running parts.
    timeoutMs: 60_000,
    async run(ctx) {
      const server = ctx.outputOf(createServerRef);
      const finalDeadline = server.createdAt + totalMs;
      try {
        return readySignal(await ctx.waitFor(CLOUD_INIT_READY_SIGNAL, { timeoutMs: checkAfterMs }));
      } catch (err) {
        if (!(err instanceof WaitTimeoutError)) throw err;
      }
      const stored = storedReport(deps, ctx.instanceId, server.createdAt);
      if (stored !== null) return readySignal({ hostKey: stored });
      const pending = await pendingActions(deps, ctx.instanceId, server, ctx.signal);
      if (now() >= finalDeadline) {
        throw new CloudInitTimeoutError(server.serverId, finalDeadline, totalMs, pending, server.actionIds);
      }
      const data = await ctx.waitFor(CLOUD_INIT_READY_SIGNAL, { timeoutMs: finalDeadline - now() });
      return readySignal(data);
    },
  };
}

/** Throws the failure of a create/start action that ended in error; returns what is still running. */
async function pendingActions(
  deps: ProvisionDeps,
  instanceId: string,
  server: CreateServerOutput,
  signal: AbortSignal,
): Promise<Action[]> {
  if (server.actionIds.length === 0) return [];
  const actions = await clientOf(deps, instanceId).actions.getMany(server.actionIds, { signal });
  const failed = actions.find((action) => action.status === "error");
  if (failed) {
    throw new HetznerActionError(
      failed.id,
      failed.command,
      failed.error?.code ?? "unknown_error",
      failed.error?.message ?? "no detail",
    );
  }
  return actions.filter((action) => action.status === "running");
}

/** The host key the API stored for this server's callback (after its creation), or null. */
function storedReport(deps: ProvisionDeps, instanceId: string, serverCreatedAt: number): string | null {
  const row = loadInstance(deps.db, instanceId);
  const fromThisServer = row.callbackReceivedAt !== null && row.callbackReceivedAt >= serverCreatedAt;
  return fromThisServer ? row.reportedHostKey : null;
}

function readySignal(data: Record<string, unknown>): AwaitCloudInitOutput {
  const hostKey = data.hostKey;
  if (typeof hostKey !== "string" || !hostKey.startsWith("ssh-ed25519 ")) {
    throw new PermanentError("the cloud-init callback reported no ssh-ed25519 host key", {
      code: "invalid_callback",
    });
  }
  return { hostKey };
}

/** The callback never came; names the server and whatever Hetzner still had running. */
export class CloudInitTimeoutError extends WaitTimeoutError {
  constructor(
    serverId: number,
    deadline: number,
    timeoutMs: number,
    running: readonly Action[],
    checkedActionIds: readonly number[],
  ) {
    super(CLOUD_INIT_READY_SIGNAL, deadline);
    const actions =
      running.length > 0
        ? `; actions still running: ${running.map((a) => `${a.command} ${a.progress}%`).join(", ")}`
        : checkedActionIds.length > 0
          ? "; its create and start actions had succeeded"
          : "; its create and start actions are unknown";
    this.message = `server ${serverId} sent no cloud-init callback within ${timeoutMs} ms${actions}`;
  }
}
