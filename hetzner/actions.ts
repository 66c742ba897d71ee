import { z } from "zod";
import { sleep } from "../core/abort.ts";
import { type CallOptions, nullIfNotFound } from "./call-options.ts";
import { HetznerActionError, HetznerActionTimeoutError } from "./errors.ts";
import type { HetznerHttp } from "./http.ts";
import { type Action, actionSchema } from "./schemas.ts";

/** Ids per GET /actions?id=… request, keeping URLs short. */
const idsPerRequest = 50;

export interface WaitForActionsOptions extends CallOptions {
  /** First pause between polls, in ms (default 500). */
  pollIntervalMs?: number;
  /** Longest pause between polls, in ms (default 5000); pauses grow by half each round up to it. */
  maxPollIntervalMs?: number;
  /** Give up after this many ms with HetznerActionTimeoutError naming what is still running (default 600000). */
  timeoutMs?: number;
}

const oneResponse = z.object({ action: actionSchema });
const manyResponse = z.object({ actions: z.array(actionSchema) });

export function actionsApi(http: HetznerHttp) {
  async function getMany(ids: readonly number[], options: CallOptions = {}): Promise<Action[]> {
    const found: Action[] = [];
    for (let start = 0; start < ids.length; start += idsPerRequest) {
      const body = await http({
        method: "GET",
        path: "/actions",
        query: { id: ids.slice(start, start + idsPerRequest) },
        schema: manyResponse,
        signal: options.signal,
      });
      found.push(...body.actions);
    }
    return found;
  }

  /**
   * Polls until every action succeeded, with ONE request per round for all still-running actions,
   * pausing before each round (0.5 s, growing by half up to 5 s by default).
   * Throws HetznerActionError for the first action that ends in "error".
   */
  async function waitFor(ids: readonly number[], options: WaitForActionsOptions = {}): Promise<Action[]> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const lastSeen = new Map<number, Action>();
    let remaining = [...new Set(ids)];
    let interval = options.pollIntervalMs ?? 500;
    try {
      while (remaining.length > 0) {
        // The caller already holds the actions' initial state (from the create or delete answer): pause first.
        await sleep(interval, signal);
        interval = Math.min(interval * 1.5, options.maxPollIntervalMs ?? 5000);
        for (const action of await getMany(remaining, { signal })) {
          if (action.status === "error") throw actionFailure(action);
          lastSeen.set(action.id, action);
        }
        remaining = remaining.filter((id) => lastSeen.get(id)?.status !== "success");
      }
    } catch (err) {
      if (!deadline.aborted || options.signal?.aborted) throw err;
      const running = remaining.map((id) => {
        const seen = lastSeen.get(id);
        return { id, command: seen?.command ?? "unknown", progress: seen?.progress ?? 0 };
      });
      throw new HetznerActionTimeoutError(running, timeoutMs);
    }
    return ids.flatMap((id) => lastSeen.get(id) ?? []);
  }

  return {
    /** GET /actions/{id}; null when it does not exist. */
    async get(id: number, options: CallOptions = {}): Promise<Action | null> {
      const body = await nullIfNotFound(
        http({ method: "GET", path: `/actions/${id}`, schema: oneResponse, signal: options.signal }),
      );
      return body?.action ?? null;
    },
    /** GET /actions?id=1&id=2…, batched; ids that do not exist are simply absent from the result. */
    getMany,
    waitFor,
  };
}

function actionFailure(action: Action): HetznerActionError {
  const code = action.error?.code ?? "unknown_error";
  return new HetznerActionError(action.id, action.command, code, action.error?.message ?? "no detail");
}

export type ActionsApi = ReturnType<typeof actionsApi>;
