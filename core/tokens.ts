/**
 * Bearer tokens the service hands to its own servers (the cloud-init callback's, a bundle grant's): random,
 * URL-safe, and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** 32 random bytes: unguessable, and short enough for a URL (43 base64url characters). */
const TOKEN_BYTES = 32;

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

/** True when `presented` equals `expected`; comparing digests keeps both content and length out of the timing. */
export function tokensMatch(expected: string, presented: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();
  return timingSafeEqual(digest(expected), digest(presented));
}
