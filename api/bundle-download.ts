/**
 * GET and HEAD /v1/instances/{instanceId}/bundles/{bundleId} with `Authorization: Bearer <grant token>`:
 * a server of ours downloads the bundle it was granted (domain/bundles/grants.ts), from its own address, with
 * Range for resuming and its sha256 in `X-Bundle-Sha256` and `Repr-Digest` to check the bytes against.
 *
 * Anything else under /v1/instances/…/bundles/… (another method, an unknown bundle or instance, a wrong or
 * spent token, a foreign address) gets the router's own 404, byte for byte, so the answer tells a prober
 * nothing; the reason is logged. The public listener routes these paths here (api/routes/bundle-download.ts).
 */
import type { BundleStore } from "../bundle/store.ts";
import type { Logger } from "../core/log.ts";
import { requestTarget } from "../core/request-target.ts";
import type { Sealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { admitBundleDownload, type BundleDownloadRefusal } from "../domain/bundles/grants.ts";
import { presentedBearerToken } from "./bearer-token.ts";
import { byteRangeOf } from "./byte-range.ts";
import { errorJson } from "./error-mapper.ts";
import { REQUEST_ID_HEADER, requestIdOf } from "./request-id.ts";

/** Paths this handler answers (all of them: refusals too); the listener sends these here. */
export const BUNDLE_DOWNLOAD_PATH = /^\/v1\/instances\/([^/]+)\/bundles\/([^/]+)$/;
/** Hex sha256 of the archive, as curl's caller feeds it to `sha256sum -c`. */
export const BUNDLE_SHA256_HEADER = "x-bundle-sha256";

export interface BundleDownloadDependencies {
  db: Db;
  sealer: Sealer;
  store: BundleStore;
  log: Logger;
  /** Epoch ms. */
  now: () => number;
}

/** Why a download was refused; logged, never answered. */
type Refusal = "method" | "unknown_bundle" | BundleDownloadRefusal;

/** Answers one request for a BUNDLE_DOWNLOAD_PATH from the peer at `clientIp` (null: in-process). */
export type BundleDownloadHandler = (request: Request, clientIp: string | null) => Promise<Response>;

export function createBundleDownloadHandler(deps: BundleDownloadDependencies): BundleDownloadHandler {
  return async (request, clientIp) => {
    const requestId = requestIdOf(request);
    const [, instanceSegment = "", bundleId = ""] =
      BUNDLE_DOWNLOAD_PATH.exec(requestTarget(request).pathname) ?? [];
    const instanceId = decodedSegment(instanceSegment);
    const refuse = (reason: Refusal) => {
      deps.log.warn({ requestId, instanceId, bundleId, clientIp, reason }, "bundle download refused");
      const response = errorJson(404, { code: "not_found", message: "no such route", requestId });
      response.headers.set(REQUEST_ID_HEADER, requestId);
      return response;
    };
    if (request.method !== "GET" && request.method !== "HEAD") return refuse("method");
    const manifest = await deps.store.get(bundleId);
    if (manifest === null) return refuse("unknown_bundle");
    if (instanceId === null) return refuse("unknown_instance");
    const claim = { instanceId, bundleId, token: presentedBearerToken(request), now: deps.now() };
    const admission = admitBundleDownload(deps.db, deps.sealer, claim, clientIp);
    if ("refusal" in admission) return refuse(admission.refusal);
    const { grantId } = admission;

    const file = Bun.file(deps.store.archivePath(bundleId));
    const etag = `"${manifest.id}"`;
    const headers = new Headers({
      "content-type": "application/gzip",
      "accept-ranges": "bytes",
      etag,
      [BUNDLE_SHA256_HEADER]: manifest.id,
      // RFC 9530: the digest of the whole archive, whatever range this response carries.
      "repr-digest": `sha-256=:${Buffer.from(manifest.id, "hex").toString("base64")}:`,
      // A bearer-only download: no shared cache may keep it.
      "cache-control": "private, no-store",
      [REQUEST_ID_HEADER]: requestId,
    });
    const range = byteRangeOf(request.headers, manifest.sizeBytes, etag);
    deps.log.info({ requestId, instanceId, bundleId, grantId, range: range.kind }, "bundle download");
    if (range.kind === "unsatisfiable") {
      headers.set("content-range", `bytes */${manifest.sizeBytes}`);
      return new Response(null, { status: 416, headers });
    }
    const [status, start, end] =
      range.kind === "partial" ? [206, range.start, range.end] : [200, 0, manifest.sizeBytes - 1];
    if (range.kind === "partial") headers.set("content-range", `bytes ${start}-${end}/${manifest.sizeBytes}`);
    headers.set("content-length", String(end - start + 1));
    const body = request.method === "HEAD" ? null : file.slice(start, end + 1);
    return new Response(body, { status, headers });
  };
}

/** A malformed %-escape names no instance. */
function decodedSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch (err) {
    if (err instanceof URIError) return null;
    throw err;
  }
}
