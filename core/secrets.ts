/**
 * Secrets at rest: an AES-256-GCM envelope with key ids, so keys can rotate while old values still open.
 *
 * Sealed format: `v1:<keyId>:<base64url iv>:<base64url ciphertext+tag>`. The caller's `context`
 * (e.g. "customer:42:telegramBotToken") is bound as additional authenticated data, so a sealed value
 * copied to another row or field fails to open.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";

/** Key ids appear inside sealed strings, so they may not contain the ":" separator. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** AES-256 needs exactly this many key bytes. */
export const KEY_BYTES = 32;

const FORMAT_VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = "aes-256-gcm";

export type SecretsErrorCode = "unknown_key" | "tampered" | "malformed" | "invalid_keyring";

/** Typed failure of sealing or opening; its message never carries plaintext, context or key bytes. */
export class SecretsError extends Error {
  override readonly name = "SecretsError";
  constructor(
    readonly code: SecretsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isSecretsError(err: unknown, ...codes: SecretsErrorCode[]): err is SecretsError {
  return err instanceof SecretsError && (codes.length === 0 || codes.includes(err.code));
}

/** The keys a sealer may use: `currentId` seals, every key in `keys` opens. */
export interface Keyring {
  /** Id of the key that seals new values; must be present in `keys`. */
  readonly currentId: string;
  /** Key id -> 32-byte AES key (raw bytes or a secret KeyObject). */
  readonly keys: ReadonlyMap<string, KeyObject | Uint8Array>;
}

export interface Sealer {
  /** Id of the key that `seal` uses. */
  readonly currentKeyId: string;
  /** Encrypts `plaintext` with the current key, bound to `context`. */
  seal(plaintext: string, context: string): string;
  /** Decrypts a sealed value; throws `SecretsError` if the key is unknown or the data or context do not match. */
  open(sealed: string, context: string): string;
  /** True when `sealed` was sealed by a key other than the current one (and so should be resealed). */
  needsRotation(sealed: string): boolean;
  /** Opens with whichever key sealed it and seals again with the current key. */
  reseal(sealed: string, context: string): string;
}

interface SealedParts {
  keyId: string;
  iv: Buffer;
  ciphertextAndTag: Buffer;
}

export function createSealer(keyring: Keyring): Sealer {
  const keys = importKeys(keyring);
  const currentId = keyring.currentId;
  const currentKey = keys.get(currentId);
  if (currentKey === undefined) {
    throw new SecretsError("invalid_keyring", `current key id "${currentId}" is not in the keyring`);
  }

  const seal = (plaintext: string, context: string): string => {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, currentKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return [FORMAT_VERSION, currentId, iv.toString("base64url"), ciphertext.toString("base64url")].join(":");
  };

  const keyFor = (keyId: string): KeyObject => {
    const key = keys.get(keyId);
    if (key === undefined) throw new SecretsError("unknown_key", `sealed with unknown key id "${keyId}"`);
    return key;
  };

  const open = (sealed: string, context: string): string => {
    const parts = parseSealed(sealed);
    const key = keyFor(parts.keyId);
    const body = parts.ciphertextAndTag;
    const decipher = createDecipheriv(ALGORITHM, key, parts.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      const plain = Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return plain.toString("utf8");
    } catch {
      // The cipher's own error says nothing useful and GCM cannot tell which input was altered.
      throw new SecretsError(
        "tampered",
        "sealed value failed authentication (altered data or wrong context)",
      );
    }
  };

  return {
    currentKeyId: currentId,
    seal,
    open,
    needsRotation: (sealed) => {
      const { keyId } = parseSealed(sealed);
      // A value under an unknown key cannot be resealed, so report that rather than answer true.
      keyFor(keyId);
      return keyId !== currentId;
    },
    reseal: (sealed, context) => seal(open(sealed, context), context),
  };
}

function importKeys(keyring: Keyring): Map<string, KeyObject> {
  const imported = new Map<string, KeyObject>();
  for (const [id, key] of keyring.keys) {
    if (!KEY_ID_PATTERN.test(id)) {
      throw new SecretsError("invalid_keyring", `key id must match ${KEY_ID_PATTERN.source}`);
    }
    // createSecretKey copies the bytes, so later changes to the caller's buffer cannot affect sealing.
    const keyObject = key instanceof Uint8Array ? createSecretKey(key) : key;
    if (keyObject.type !== "secret" || keyObject.symmetricKeySize !== KEY_BYTES) {
      throw new SecretsError("invalid_keyring", `key "${id}" must be a ${KEY_BYTES}-byte secret key`);
    }
    imported.set(id, keyObject);
  }
  return imported;
}

function parseSealed(sealed: string): SealedParts {
  const fields = sealed.split(":");
  const [version, keyId, ivText, bodyText] = fields;
  if (
    fields.length !== 4 ||
    version !== FORMAT_VERSION ||
    keyId === undefined ||
    !KEY_ID_PATTERN.test(keyId)
  ) {
    throw new SecretsError("malformed", `sealed value is not in the ${FORMAT_VERSION} format`);
  }
  const iv = decodeBase64url(ivText ?? "");
  const ciphertextAndTag = decodeBase64url(bodyText ?? "");
  if (iv?.length !== IV_BYTES || ciphertextAndTag === undefined || ciphertextAndTag.length < TAG_BYTES) {
    throw new SecretsError("malformed", "sealed value has an invalid iv or ciphertext length");
  }
  return { keyId, iv, ciphertextAndTag };
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodeBase64url(text: string): Buffer | undefined {
  return BASE64URL.test(text) ? Buffer.from(text, "base64url") : undefined;
}
