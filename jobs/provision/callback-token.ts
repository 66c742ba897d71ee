/**
 * The per-instance token in the cloud-init callback URL. cloud-init's phone_home is unauthenticated, so
 * this token (sealed at rest, never logged) is what proves a callback comes from the server we created.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { Sealer } from "../../core/secrets.ts";
import { newToken, tokensMatch } from "../../core/tokens.ts";
import type { Db } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import { UnknownInstanceError } from "../errors.ts";

/** The durable-wait signal the callback sends and the await-cloud-init step waits for. */
export const CLOUD_INIT_READY_SIGNAL = "cloud-init-ready";

/** Data of CLOUD_INIT_READY_SIGNAL. */
export interface CloudInitReadySignalData {
  /** The server's host key as phone_home reported it, "ssh-ed25519 AAAA…". */
  hostKey: string;
}

const context = (instanceId: string) => `instance:${instanceId}:callbackToken`;

function sealedTokenOf(db: Db, instanceId: string): string | null {
  const row = db
    .select({ callbackToken: instances.callbackToken })
    .from(instances)
    .where(eq(instances.id, instanceId))
    .get();
  if (!row) throw new UnknownInstanceError(instanceId);
  return row.callbackToken;
}

/**
 * The instance's callback token, created on first use and the same on every later call (a retried step
 * must render the same user-data). Throws UnknownInstanceError.
 */
export function issueCallbackToken(db: Db, sealer: Sealer, instanceId: string): string {
  const existing = sealedTokenOf(db, instanceId);
  if (existing !== null) return sealer.open(existing, context(instanceId));
  const sealed = sealer.seal(newToken(), context(instanceId));
  // Only the first writer wins, so two concurrent issuers still agree on one token.
  db.update(instances)
    .set({ callbackToken: sealed })
    .where(and(eq(instances.id, instanceId), isNull(instances.callbackToken)))
    .run();
  const stored = sealedTokenOf(db, instanceId) ?? sealed;
  return sealer.open(stored, context(instanceId));
}

/**
 * True when `token` is the instance's callback token. Compares digests in constant time, so neither the
 * content nor the length of the stored token leaks through timing. False for an instance without a token;
 * throws UnknownInstanceError for an unknown instance.
 */
export function verifyCallbackToken(db: Db, sealer: Sealer, instanceId: string, token: string): boolean {
  const sealed = sealedTokenOf(db, instanceId);
  if (sealed === null) return false;
  return tokensMatch(sealer.open(sealed, context(instanceId)), token);
}
