/**
 * POST /v1/cloud-init/{instanceId}/ready?token=… — cloud-init's phone_home from a new server, form-encoded,
 * carrying the host key SSH will pin; the checks and the signal are domain/cloud-init-callback.ts's. On the
 * public listener: an unknown instance is refused exactly as a wrong token is, so no caller learns which exist.
 *
 * The caller's address is the TCP peer's, or behind a trusted proxy the one it forwarded (TRUSTED_PROXIES).
 * The token travels in the URL, so nothing here logs the URL (the request log line carries the path only).
 */
import { CallbackNotRecordedError, CallbackRefusedError } from "../../domain/cloud-init-callback.ts";
import { RemoteError } from "../../remote/errors.ts";
import { parsePinnedHostKey } from "../../remote/host-key.ts";
import { readBody } from "../body.ts";
import { HttpError } from "../http-error.ts";
import type { Route } from "../router.ts";

/** phone_home posts a few keys and hostnames (~1 KB); anything far bigger is not cloud-init. */
const MAX_BODY_BYTES = 64 * 1024;
const FORM_TYPE = "application/x-www-form-urlencoded";

export const cloudInitReadyRoute: Route = {
  method: "POST",
  path: "/v1/cloud-init/:instanceId/ready",
  handle: async (ctx) => {
    const instanceId = ctx.params.instanceId ?? "";
    const caller = { instanceId, token: ctx.url.searchParams.get("token") ?? "", clientIp: ctx.clientIp };
    try {
      const status = await ctx.deps.cloudInitCallbacks.receive(
        caller,
        () => readHostKey(ctx.request),
        ctx.log,
      );
      return Response.json({ status });
    } catch (err) {
      if (err instanceof CallbackRefusedError) throw new HttpError(403, err.code, err.message);
      if (err instanceof CallbackNotRecordedError) {
        ctx.log.error({ instanceId, err }, "cloud-init callback not recorded");
        throw new HttpError(503, "unavailable", "could not record the callback; try again");
      }
      throw err;
    }
  },
};

/** The `ssh-ed25519 AAAA…` line from the form (comment and cloud-init's trailing newline dropped). */
async function readHostKey(request: Request): Promise<string> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith(FORM_TYPE)) {
    throw new HttpError(400, "malformed_body", `body must be ${FORM_TYPE}`);
  }
  const body = (await readBody(request, MAX_BODY_BYTES)).toString("utf8");
  const line = new URLSearchParams(body).get("pub_key_ed25519")?.trim() ?? "";
  if (line === "" || line === "N/A") {
    throw new HttpError(422, "invalid_field", "pub_key_ed25519 is missing");
  }
  try {
    parsePinnedHostKey(line);
  } catch (err) {
    if (err instanceof RemoteError && err.code === "invalid_host_key") {
      throw new HttpError(422, "invalid_field", "pub_key_ed25519 is not an OpenSSH ssh-ed25519 public key");
    }
    throw err;
  }
  const [keyType, base64] = line.split(/\s+/);
  return `${keyType} ${base64}`;
}
