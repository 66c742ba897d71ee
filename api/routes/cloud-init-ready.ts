/**
 * POST /v1/cloud-init/{instanceId}/ready?token=… — cloud-init's phone_home from a new server, form-encoded,
 * carrying the host key SSH will pin. phone_home is unauthenticated, so a report counts only with the
 * instance's callback token, only from the server's own IPv4 once known, and only once. On the public
 * listener: an unknown instance is refused exactly as a wrong token is, so no caller learns which exist.
 *
 * The caller's address is the TCP peer's, or behind a trusted proxy the one it forwarded (TRUSTED_PROXIES).
 * The token travels in the URL, so nothing here logs the URL (the request log line carries the path only).
 */
import { and, eq, isNull } from "drizzle-orm";
import { createSealer } from "../../core/secrets.ts";
import type { Db } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import { errorCodeOf } from "../../jobs/errors.ts";
import { CLOUD_INIT_READY_SIGNAL, verifyCallbackToken } from "../../jobs/provision/callback-token.ts";
import { findPendingSignal } from "../../queue/signals.ts";
import { RemoteError } from "../../remote/errors.ts";
import { parsePinnedHostKey } from "../../remote/host-key.ts";
import { readBody } from "../body.ts";
import { HttpError } from "../http-error.ts";
import type { Route, RouteContext } from "../router.ts";

/** phone_home posts a few keys and hostnames (~1 KB); anything far bigger is not cloud-init. */
const MAX_BODY_BYTES = 64 * 1024;
const FORM_TYPE = "application/x-www-form-urlencoded";

export const cloudInitReadyRoute: Route = {
  method: "POST",
  path: "/v1/cloud-init/:instanceId/ready",
  handle: async (ctx) => {
    const { deps, params } = ctx;
    const instanceId = params.instanceId ?? "";
    const instance = deps.db
      .select({
        ipv4: instances.ipv4,
        callbackReceivedAt: instances.callbackReceivedAt,
        reportedHostKey: instances.reportedHostKey,
      })
      .from(instances)
      .where(eq(instances.id, instanceId))
      .get();
    if (!instance) throw invalidToken();
    checkCaller(ctx, instanceId, instance.ipv4);
    if (instance.callbackReceivedAt !== null) {
      await rewakeAfterRepeat(ctx, instanceId, instance.callbackReceivedAt, instance.reportedHostKey);
      return Response.json({ status: "already_received" });
    }
    const hostKey = await readHostKey(ctx.request);
    return accept(ctx, instanceId, hostKey);
  },
};

/** 403 unless the token is right and the request comes from the server's own address (when known). */
function checkCaller(ctx: RouteContext, instanceId: string, serverIp: string | null): void {
  const token = ctx.url.searchParams.get("token") ?? "";
  const sealer = createSealer(ctx.deps.config.secretsKeys);
  if (!verifyCallbackToken(ctx.deps.db, sealer, instanceId, token)) throw invalidToken();
  if (serverIp !== null && ctx.clientIp !== serverIp) {
    ctx.log.warn(
      { instanceId, clientIp: ctx.clientIp, serverIp },
      "cloud-init callback from a foreign address",
    );
    throw new HttpError(403, "wrong_origin", "callback must come from the server's own address");
  }
}

const invalidToken = () => new HttpError(403, "invalid_token", "missing or wrong callback token");

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

/**
 * Stores the report, then signals the waiting job. The signal is recorded in the database before the
 * broker is asked to wake the job, so a broker outage only delays the job; a failed database write is
 * undone and answered 503, so phone_home tries again.
 */
async function accept(ctx: RouteContext, instanceId: string, hostKey: string): Promise<Response> {
  const { db, queue } = ctx.deps;
  const receivedAt = Date.now();
  // A failing database write is the error mapper's 503, so phone_home tries again.
  const stored = db
    .update(instances)
    .set({ reportedHostKey: hostKey, callbackReceivedAt: receivedAt, updatedAt: receivedAt })
    .where(and(eq(instances.id, instanceId), isNull(instances.callbackReceivedAt)))
    .returning({ id: instances.id })
    .all();
  // A concurrent duplicate got there first: it stored and signalled.
  if (stored.length === 0) return Response.json({ status: "already_received" });
  try {
    await queue.signal(instanceId, CLOUD_INIT_READY_SIGNAL, { hostKey });
  } catch (err) {
    if (findPendingSignal(db, instanceId, CLOUD_INIT_READY_SIGNAL, receivedAt) === undefined) {
      forgetReport(db, instanceId, receivedAt);
      ctx.log.error({ instanceId, err }, "cloud-init callback not recorded");
      throw new HttpError(503, "unavailable", "could not record the callback; try again");
    }
    // The job finds the stored signal by its own deadline at the latest.
    ctx.log.warn(
      { instanceId, errorCode: errorCodeOf(err) },
      "cloud-init signal stored; waking the job failed",
    );
  }
  ctx.log.info({ instanceId }, "cloud-init callback accepted");
  return Response.json({ status: "accepted" });
}

/**
 * phone_home tries again when the first answer was lost, e.g. the API died between storing the report and
 * signalling: the signal is recorded now if it never was, and the waiting job woken, so it does not sleep
 * until its deadline. Nothing is recorded twice.
 */
async function rewakeAfterRepeat(
  ctx: RouteContext,
  instanceId: string,
  receivedAt: number,
  hostKey: string | null,
): Promise<void> {
  if (hostKey === null) return;
  try {
    await ctx.deps.queue.signal(
      instanceId,
      CLOUD_INIT_READY_SIGNAL,
      { hostKey },
      { unlessRecordedSince: receivedAt },
    );
  } catch (err) {
    // The stored report stays; the job finds a recorded signal by its own deadline at the latest.
    ctx.log.warn(
      { instanceId, errorCode: errorCodeOf(err) },
      "repeated cloud-init callback: waking the job failed",
    );
  }
}

/** Undoes this request's report so the next phone_home try is not taken for a repeat. */
function forgetReport(db: Db, instanceId: string, receivedAt: number): void {
  db.update(instances)
    .set({ reportedHostKey: null, callbackReceivedAt: null })
    .where(and(eq(instances.id, instanceId), eq(instances.callbackReceivedAt, receivedAt)))
    .run();
}
