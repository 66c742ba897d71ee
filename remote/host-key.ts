/** The pinned host key: an OpenSSH `ssh-ed25519 AAAA… [comment]` line reduced to its wire blob. */
import { createHash, timingSafeEqual } from "node:crypto";
import { RemoteError } from "./errors.ts";

const KEY_TYPE = "ssh-ed25519";
const ED25519_KEY_BYTES = 32;
/** uint32 length + "ssh-ed25519" + uint32 length + 32 key bytes. */
const BLOB_BYTES = 4 + KEY_TYPE.length + 4 + ED25519_KEY_BYTES;

export interface PinnedHostKey {
  /** The key as sent on the wire during key exchange (RFC 4253 public key blob). */
  blob: Buffer;
  /** `SHA256:…` as `ssh-keygen -lf` prints it; safe to log. */
  fingerprint: string;
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Parses and checks the line; throws `invalid_host_key` (naming what is wrong, never echoing it). */
export function parsePinnedHostKey(line: string): PinnedHostKey {
  const [type, base64] = line.trim().split(/\s+/);
  if (type !== KEY_TYPE || base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
    throw new RemoteError(
      "invalid_host_key",
      `expected host key is not an OpenSSH "${KEY_TYPE} <base64>" line`,
    );
  }
  const blob = Buffer.from(base64, "base64");
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const embeddedType = blob.subarray(4, 4 + KEY_TYPE.length).toString("latin1");
  const keyLength = blob.length === BLOB_BYTES ? blob.readUInt32BE(4 + KEY_TYPE.length) : -1;
  if (typeLength !== KEY_TYPE.length || embeddedType !== KEY_TYPE || keyLength !== ED25519_KEY_BYTES) {
    throw new RemoteError("invalid_host_key", `expected host key is not a well-formed ${KEY_TYPE} key blob`);
  }
  return { blob, fingerprint: fingerprintOf(blob) };
}

export function sameHostKey(pinned: PinnedHostKey, presented: Buffer): boolean {
  return presented.length === pinned.blob.length && timingSafeEqual(presented, pinned.blob);
}
