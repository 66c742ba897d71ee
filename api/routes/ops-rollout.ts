/**
 * The fleet rollout over HTTP, for operators (`bun run ops rollout …`), behind `Authorization: Bearer
 * <OPS_TOKEN>`; one resource, so its routes live together:
 * - `POST /v1/ops/rollout` with JSON `{"bundle": "<sha256>", "canary": N, "batch": N, "maxFailures": N}`
 *   (all but bundle optional: 1, 5, 0) starts a rollout: 202 with it; 422 `invalid_fields` naming each bad
 *   field, or `unknown_bundle`; 409 `rollout_in_progress` or `nothing_to_upgrade`; 503 `unavailable` when the
 *   broker did not take its job (it is recorded: `resume` adds it).
 * - `GET /v1/ops/rollout` the newest rollout with its members: 200, or 404 `no_rollout` before the first.
 * - `POST /v1/ops/rollout/pause` and `/resume` act on the rollout under way: 200 with it; 404 `no_rollout`;
 *   409 `wrong_state` (pausing one that is not running, resuming a halted one); 503 as above.
 */
import { z } from "zod";
import { bundleIdSchema } from "../../bundle/manifest.ts";
import { ROLLOUT_DEFAULTS, RolloutNotQueuedError, RolloutRefusedError } from "../../jobs/rollout/request.ts";
import { parseJson, readBody } from "../body.ts";
import { HttpError } from "../http-error.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

const MAX_BODY_BYTES = 1024;
/** Bound of canary and batch sizes: a fleet is counted in thousands at most. */
const MAX_WAVE = 10_000;

const count = (min: number) => z.number().int().min(min).max(MAX_WAVE);
const bodySchema = z.strictObject({
  bundle: bundleIdSchema,
  canary: count(1).optional(),
  batch: count(1).optional(),
  maxFailures: count(0).optional(),
});

const EXPECTED =
  'expected {"bundle": "<sha256, 64 lowercase hex digits>", "canary": integer ≥ 1, "batch": integer ≥ 1, "maxFailures": integer ≥ 0}';

async function readRolloutAsked(request: Request) {
  const text = (await readBody(request, MAX_BODY_BYTES)).toString("utf8");
  const parsed = bodySchema.safeParse(text.trim() === "" ? {} : parseJson(text));
  if (parsed.success) return parsed.data;
  const fields = parsed.error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys" ? issue.keys : [issue.path.join(".") || "(body)"],
  );
  throw new HttpError(422, "invalid_fields", `invalid ${[...new Set(fields)].join(", ")}: ${EXPECTED}`);
}

function refusal(err: unknown): never {
  if (err instanceof RolloutRefusedError) {
    const status = err.code === "no_rollout" ? 404 : err.code === "unknown_bundle" ? 422 : 409;
    throw new HttpError(status, err.code, err.message);
  }
  if (err instanceof RolloutNotQueuedError)
    throw new HttpError(503, "unavailable", `${err.message}: try again`);
  throw err;
}

export const opsRolloutStartRoute: Route = {
  method: "POST",
  path: "/v1/ops/rollout",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const asked = await readRolloutAsked(ctx.request);
    const settings = {
      canary: asked.canary ?? ROLLOUT_DEFAULTS.canary,
      batchSize: asked.batch ?? ROLLOUT_DEFAULTS.batchSize,
      maxFailures: asked.maxFailures ?? ROLLOUT_DEFAULTS.maxFailures,
    };
    const rollout = await ctx.deps.rollouts.start(asked.bundle, settings).catch(refusal);
    ctx.log.info({ rolloutId: rollout.id, bundleId: asked.bundle, ...settings }, "rollout started");
    return Response.json(rollout.detail, { status: 202 });
  },
};

export const opsRolloutRoute: Route = {
  method: "GET",
  path: "/v1/ops/rollout",
  handle: (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const detail = ctx.deps.rollouts.latest();
    if (detail === null) throw new HttpError(404, "no_rollout", "no rollout was ever started");
    return Response.json(detail);
  },
};

export const opsRolloutPauseRoute: Route = {
  method: "POST",
  path: "/v1/ops/rollout/pause",
  handle: (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const rollout = (() => {
      try {
        return ctx.deps.rollouts.pause();
      } catch (err) {
        return refusal(err);
      }
    })();
    ctx.log.info({ rolloutId: rollout.id }, "rollout paused");
    return Response.json(rollout.detail);
  },
};

export const opsRolloutResumeRoute: Route = {
  method: "POST",
  path: "/v1/ops/rollout/resume",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const rollout = await ctx.deps.rollouts.resume().catch(refusal);
    ctx.log.info({ rolloutId: rollout.id }, "rollout resumed");
    return Response.json(rollout.detail);
  },
};
