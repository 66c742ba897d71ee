/**
 * Bundle grants: leave for one server to download one bundle, proven by a per-grant bearer token. A boot's
 * grant is issued with its user-data and lasts until the server's cloud-init callback or the grant's
 * deadline; an upgrade's is issued for that upgrade and ended with it. Tokens are sealed at rest (a retried
 * step must hand out the same token) and never logged.
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import type { Sealer } from "../../core/secrets.ts";
import { newToken, tokensMatch } from "../../core/tokens.ts";
import type { Db } from "../../db/index.ts";
import { type BundleGrantPurpose, bundleGrants, instances } from "../../db/schema.ts";
import { UnknownInstanceError } from "../../jobs/errors.ts";

/**
 * Where a granted server downloads its bundle (api/bundle-download.ts answers it), with the grant's token in
 * `Authorization: Bearer`, never in the URL.
 */
export function bundleDownloadUrl(publicBaseUrl: string, instanceId: string, bundleId: string): string {
  return `${publicBaseUrl}/v1/instances/${encodeURIComponent(instanceId)}/bundles/${bundleId}`;
}

const context = (instanceId: string, grantId: string) => `instance:${instanceId}:bundleGrant:${grantId}`;

export interface BundleGrantRequest {
  /** The operation the grant serves, e.g. `provision:<instanceId>:1`; issuing it again returns the same token. */
  grantId: string;
  instanceId: string;
  purpose: BundleGrantPurpose;
  bundleId: string;
  /** Epoch ms after which the token opens nothing. */
  expiresAt: number;
  now: number;
}

/** A grant that already exists under the same id but for something else: a caller's bug, never retried. */
export class ConflictingBundleGrantError extends Error {
  override readonly name = "ConflictingBundleGrantError";
}

/**
 * The grant's token, created on first call and the same on every later one. Throws UnknownInstanceError,
 * or ConflictingBundleGrantError when `grantId` was issued for another instance, purpose or bundle.
 */
export function issueBundleGrant(db: Db, sealer: Sealer, request: BundleGrantRequest): string {
  const { grantId, instanceId } = request;
  const instance = db.select({ id: instances.id }).from(instances).where(eq(instances.id, instanceId)).get();
  if (!instance) throw new UnknownInstanceError(instanceId);
  // Only the first writer's row stays, so two concurrent issuers still agree on one token.
  db.insert(bundleGrants)
    .values({
      id: grantId,
      instanceId,
      purpose: request.purpose,
      bundleId: request.bundleId,
      token: sealer.seal(newToken(), context(instanceId, grantId)),
      expiresAt: request.expiresAt,
      createdAt: request.now,
    })
    .onConflictDoNothing()
    .run();
  const grant = db.select().from(bundleGrants).where(eq(bundleGrants.id, grantId)).get();
  if (
    !grant ||
    grant.instanceId !== instanceId ||
    grant.purpose !== request.purpose ||
    grant.bundleId !== request.bundleId
  ) {
    throw new ConflictingBundleGrantError(
      `bundle grant ${grantId} exists for another instance, purpose or bundle`,
    );
  }
  return sealer.open(grant.token, context(instanceId, grantId));
}

/** A grant as its holder sees it: which bundle, its token (unsealed in memory), and whether it still opens. */
export interface OpenedBundleGrant {
  instanceId: string;
  bundleId: string;
  token: string;
  live: boolean;
}

/** The grant issued under `grantId` (e.g. an upgrade's operation id), or null when none was. */
export function openBundleGrant(
  db: Db,
  sealer: Sealer,
  grantId: string,
  now: number,
): OpenedBundleGrant | null {
  const grant = db.select().from(bundleGrants).where(eq(bundleGrants.id, grantId)).get();
  if (!grant) return null;
  return {
    instanceId: grant.instanceId,
    bundleId: grant.bundleId,
    token: sealer.open(grant.token, context(grant.instanceId, grantId)),
    live: grant.endedAt === null && grant.expiresAt > now,
  };
}

/** Ends the grant (its upgrade finished, or was abandoned); ending it twice is a no-op. */
export function endBundleGrant(db: Db, grantId: string, now: number): void {
  db.update(bundleGrants)
    .set({ endedAt: now })
    .where(and(eq(bundleGrants.id, grantId), isNull(bundleGrants.endedAt)))
    .run();
}

/**
 * Opens an ended or expired grant again until `expiresAt`: a re-run of the operation it serves (an
 * operator's retry of a failed upgrade) needs the same leave its first run had.
 */
export function renewBundleGrant(db: Db, grantId: string, expiresAt: number): void {
  db.update(bundleGrants).set({ endedAt: null, expiresAt }).where(eq(bundleGrants.id, grantId)).run();
}

export interface BundleDownloadClaim {
  instanceId: string;
  bundleId: string;
  /** The bearer token the server presented. */
  token: string;
  now: number;
}

/** Why a download claim is refused; logged, never answered. */
export type BundleDownloadRefusal = "unknown_instance" | "wrong_origin" | "no_grant";

/**
 * Admits a download claim from `clientIp` (null: in-process): the instance exists, the request comes from
 * its server's own address once known, and a live grant matches the token. Until create-server has stored
 * the address (its answer lost and the server adopted on a retry), the single-purpose token alone stands,
 * as for the cloud-init callback.
 */
export function admitBundleDownload(
  db: Db,
  sealer: Sealer,
  claim: BundleDownloadClaim,
  clientIp: string | null,
): { grantId: string } | { refusal: BundleDownloadRefusal } {
  const instance = db
    .select({ ipv4: instances.ipv4 })
    .from(instances)
    .where(eq(instances.id, claim.instanceId))
    .get();
  if (!instance) return { refusal: "unknown_instance" };
  if (instance.ipv4 !== null && clientIp !== instance.ipv4) return { refusal: "wrong_origin" };
  const grantId = authorizeBundleDownload(db, sealer, claim);
  return grantId === null ? { refusal: "no_grant" } : { grantId };
}

/**
 * The id of the live grant that lets this instance download this bundle with this token, or null. Every
 * live grant of the instance is compared (in constant time), so a miss takes as long as a hit.
 */
export function authorizeBundleDownload(db: Db, sealer: Sealer, claim: BundleDownloadClaim): string | null {
  const grants = db
    .select({
      id: bundleGrants.id,
      purpose: bundleGrants.purpose,
      bundleId: bundleGrants.bundleId,
      token: bundleGrants.token,
      callbackReceivedAt: instances.callbackReceivedAt,
    })
    .from(bundleGrants)
    .innerJoin(instances, eq(instances.id, bundleGrants.instanceId))
    .where(
      and(
        eq(bundleGrants.instanceId, claim.instanceId),
        isNull(bundleGrants.endedAt),
        gt(bundleGrants.expiresAt, claim.now),
      ),
    )
    .all();
  let granted: string | null = null;
  for (const grant of grants) {
    const matches = tokensMatch(sealer.open(grant.token, context(claim.instanceId, grant.id)), claim.token);
    // A boot's leave ends when the server has phoned home: by then it has unpacked its bundle.
    const live = grant.purpose !== "boot" || grant.callbackReceivedAt === null;
    if (matches && live && grant.bundleId === claim.bundleId) granted = grant.id;
  }
  return granted;
}
