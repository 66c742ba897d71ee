/**
 * POST /v1/ops/instances/{instanceId}/upgrade — `bun run ops upgrade`: moves the instance's server to a
 * bundle, with optional JSON `{"bundle": "<sha256>"}` (default: the current bundle of its architecture).
 * 202 with the upgrade job (joined when one to the same bundle is under way, `created: false`); 404
 * `unknown_instance`; 422 `invalid_fields` or `unknown_bundle`; 409 `instance_busy` (a provision,
 * reconfigure or deprovision is in flight), `not_running`, `wrong_architecture` or `upgrade_in_progress`
 * (to another bundle); 503 `unavailable` when the broker does not take the job.
 */
import { z } from "zod";
import { bundleIdSchema } from "../../bundle/manifest.ts";
import { UnknownInstanceError } from "../../jobs/errors.ts";
import { requestUpgrade, UpgradeEnqueueError, UpgradeRefusedError } from "../../jobs/upgrade/request.ts";
import { parseJson, readBody } from "../body.ts";
import { HttpError } from "../http-error.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

/** `{"bundle": "<64 hex>"}` is 78 bytes. */
const MAX_BODY_BYTES = 1024;

const bodySchema = z.strictObject({ bundle: bundleIdSchema.optional() });

/** The bundle asked for, or undefined for the current one; 422 naming each bad field. */
async function readBundleAsked(request: Request): Promise<string | undefined> {
  const text = (await readBody(request, MAX_BODY_BYTES)).toString("utf8");
  if (text.trim() === "") return undefined;
  const parsed = bodySchema.safeParse(parseJson(text));
  if (parsed.success) return parsed.data.bundle;
  const fields = parsed.error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys" ? issue.keys : [issue.path.join(".") || "(body)"],
  );
  throw new HttpError(
    422,
    "invalid_fields",
    `invalid ${fields.join(", ")}: expected {"bundle": "<sha256 of a bundle, 64 lowercase hex digits>"}`,
  );
}

export const opsUpgradeRoute: Route = {
  method: "POST",
  path: "/v1/ops/instances/:instanceId/upgrade",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const instanceId = ctx.params.instanceId ?? "";
    const bundle = await readBundleAsked(ctx.request);
    const requested = await requestUpgrade(ctx.deps.upgrades, instanceId, bundle).catch((err: unknown) => {
      if (err instanceof UnknownInstanceError) throw new HttpError(404, "unknown_instance", err.message);
      if (err instanceof UpgradeRefusedError) {
        throw new HttpError(err.code === "unknown_bundle" ? 422 : 409, err.code, err.message);
      }
      if (err instanceof UpgradeEnqueueError) {
        ctx.log.error({ err, instanceId }, "operator upgrade not queued");
        throw new HttpError(503, "unavailable", `the upgrade of ${instanceId} was not queued: try again`);
      }
      throw err;
    });
    ctx.log.info({ ...requested }, "operator upgrade");
    return Response.json(requested, { status: 202 });
  },
};
