/**
 * The reconcile sweep over HTTP, for operators (`bun run ops reconcile [--dry-run]`), behind `Authorization:
 * Bearer <OPS_TOKEN>`:
 * - `POST /v1/ops/reconcile` with optional JSON `{"dryRun": boolean, "apply": boolean}` (both default false)
 *   asks the worker for a sweep and waits for it (`apply` releases a restore's hold first, see
 *   jobs/reconcile/restore-hold.ts): 200 with the finished sweep record, or 202 with the record so far when it is
 *   still queued (another sweep running) or running after the wait. `Prefer: wait=N` (seconds, at most 30,
 *   the default) shortens the wait. Broker down: 503 `unavailable`, the sweep recorded failed.
 * - `GET /v1/ops/sweeps/:id` returns one sweep record; 404 `unknown_sweep`.
 * Both routes live here because they are one resource: the sweep and its record.
 */
import { z } from "zod";
import { SweepNotQueuedError } from "../../jobs/reconcile/operator-sweep.ts";
import { readSweep } from "../../jobs/reconcile/sweep-record.ts";
import { parseJson, readBody } from "../body.ts";
import { HttpError } from "../http-error.ts";
import { refuseNonOperator } from "../ops/access.ts";
import type { Route } from "../router.ts";

/** `{"dryRun": true}` is 15 bytes; the limit only stops a caller from making us buffer megabytes. */
const MAX_BODY_BYTES = 1024;
/** Longest the route waits for the sweep to finish, in ms (a sweep of 300 servers takes about a second). */
const MAX_WAIT_MS = 30_000;

const bodySchema = z.strictObject({ dryRun: z.boolean().optional(), apply: z.boolean().optional() });

interface SweepAsked {
  dryRun: boolean;
  apply: boolean;
}

/** The body's options; an empty body means the defaults. 422 naming each bad field. */
async function readSweepAsked(request: Request): Promise<SweepAsked> {
  const text = (await readBody(request, MAX_BODY_BYTES)).toString("utf8");
  if (text.trim() === "") return { dryRun: false, apply: false };
  const parsed = bodySchema.safeParse(parseJson(text));
  if (parsed.success) {
    const asked = { dryRun: parsed.data.dryRun ?? false, apply: parsed.data.apply ?? false };
    if (asked.dryRun && asked.apply) {
      throw new HttpError(
        422,
        "invalid_fields",
        "invalid dryRun, apply: a dry run cannot apply; ask for one of them",
      );
    }
    return asked;
  }
  const fields = parsed.error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys" ? issue.keys : [issue.path.join(".") || "(body)"],
  );
  throw new HttpError(
    422,
    "invalid_fields",
    `invalid ${[...new Set(fields)].join(", ")}: the body is {"dryRun": boolean, "apply": boolean}, both optional`,
  );
}

/** `Prefer: wait=N` (RFC 7240) in seconds, capped at the route's maximum. */
function waitMsOf(request: Request): number {
  const match = /(?:^|[,;\s])wait=(\d+)/i.exec(request.headers.get("prefer") ?? "");
  return match?.[1] === undefined ? MAX_WAIT_MS : Math.min(Number(match[1]) * 1000, MAX_WAIT_MS);
}

export const opsReconcileRoute: Route = {
  method: "POST",
  path: "/v1/ops/reconcile",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    const { dryRun, apply } = await readSweepAsked(ctx.request);
    let sweepId: string;
    try {
      sweepId = await ctx.deps.sweeps.request({ dryRun, apply });
    } catch (err) {
      if (!(err instanceof SweepNotQueuedError)) throw err;
      ctx.log.warn({ err, sweepId: err.sweepId }, "operator sweep not queued");
      throw new HttpError(
        503,
        "unavailable",
        `the broker is unreachable; sweep ${err.sweepId} was not queued`,
      );
    }
    ctx.log.info({ sweepId, dryRun, apply }, "operator sweep requested");
    const record = await ctx.deps.sweeps.awaitRecord(sweepId, waitMsOf(ctx.request), ctx.request.signal);
    const finished = record.status === "succeeded" || record.status === "failed";
    return Response.json(record, { status: finished ? 200 : 202 });
  },
};

export const opsSweepRoute: Route = {
  method: "GET",
  path: "/v1/ops/sweeps/:sweepId",
  handle: (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    const sweepId = ctx.params.sweepId ?? "";
    const record = readSweep(ctx.deps.db, sweepId);
    if (record === null) throw new HttpError(404, "unknown_sweep", `no sweep ${sweepId}`);
    return Response.json(record);
  },
};
