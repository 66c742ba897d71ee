/**
 * Ed25519 key pairs in OpenSSH formats, generated with node:crypto. Not ssh2's `utils.generateKeyPairSync`:
 * it strips every leading zero byte of the public key, so about 1 key in 256 comes out 31 bytes long and
 * sshd rejects it (mscdex/ssh2#1390, #1513).
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";

const KEY_TYPE = "ssh-ed25519";
const AUTH_MAGIC = "openssh-key-v1\0";
/** Unencrypted OpenSSH keys pad their private section to this block size. */
const BLOCK_SIZE = 8;
const PEM_LINE_LENGTH = 70;

export interface SshKeyPair {
  /** `-----BEGIN OPENSSH PRIVATE KEY-----` text (unencrypted), as ssh2 and OpenSSH read it. */
  privateKey: string;
  /** One authorized_keys line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
}

/** RFC 4251 `string`: uint32 length, then the bytes. */
function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function privateSection(seed: Buffer, publicKey: Buffer, comment: string): Buffer {
  const check = randomBytes(4);
  const body = Buffer.concat([
    check,
    check,
    sshString(KEY_TYPE),
    sshString(publicKey),
    sshString(Buffer.concat([seed, publicKey])),
    sshString(comment),
  ]);
  const padLength = (BLOCK_SIZE - (body.length % BLOCK_SIZE)) % BLOCK_SIZE;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  return Buffer.concat([body, padding]);
}

/** A fresh ed25519 key pair; `comment` ends the public line and is stored in the private key. */
export function generateSshKeyPair(comment: string): SshKeyPair {
  const pair = generateKeyPairSync("ed25519");
  const jwk = pair.privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d ?? "", "base64url");
  const publicKey = Buffer.from(jwk.x ?? "", "base64url");
  const publicBlob = Buffer.concat([sshString(KEY_TYPE), sshString(publicKey)]);
  const blob = Buffer.concat([
    Buffer.from(AUTH_MAGIC),
    sshString("none"),
    sshString("none"),
    sshString(""),
    uint32(1),
    sshString(publicBlob),
    sshString(privateSection(seed, publicKey, comment)),
  ]);
  const body = blob.toString("base64").match(new RegExp(`.{1,${PEM_LINE_LENGTH}}`, "g")) ?? [];
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `${KEY_TYPE} ${publicBlob.toString("base64")} ${comment}`.trim(),
  };
}
