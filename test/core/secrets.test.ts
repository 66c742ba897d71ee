import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { generateDevSecrets, loadConfig } from "../../core/config.ts";
import { createSealer, isSecretsError, type SecretsErrorCode } from "../../core/secrets.ts";

const PLAINTEXT = "123456:telegram-bot-token-plaintext";
const CONTEXT = "customer:42:telegramBotToken";

const newKey = () => randomBytes(32);

function sealerWith(currentId: string, keys: Record<string, Buffer>) {
  return createSealer({ currentId, keys: new Map(Object.entries(keys)) });
}

/** Runs `action`, expecting a SecretsError with `code` whose message leaks neither plaintext nor key. */
function expectSecretsError(action: () => unknown, code: SecretsErrorCode, keys: Buffer[] = []): void {
  let caught: unknown;
  try {
    action();
  } catch (err) {
    caught = err;
  }
  expect(isSecretsError(caught, code)).toBe(true);
  const message = (caught as Error).message;
  expect(message).not.toContain(PLAINTEXT);
  for (const key of keys) {
    expect(message).not.toContain(key.toString("base64"));
    expect(message).not.toContain(key.toString("hex"));
  }
}

/** Flips one bit of the decoded field at `fieldIndex` (2 = iv, 3 = ciphertext+tag) at byte `at`. */
function flipBit(sealed: string, fieldIndex: number, at: (length: number) => number): string {
  const fields = sealed.split(":");
  const bytes = Buffer.from(fields[fieldIndex] ?? "", "base64url");
  const index = at(bytes.length);
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  fields[fieldIndex] = bytes.toString("base64url");
  return fields.join(":");
}

describe("createSealer", () => {
  const key = newKey();
  const sealer = sealerWith("k1", { k1: key });

  test("seal then open returns the plaintext; the sealed form names the key id and hides the plaintext", () => {
    const sealed = sealer.seal(PLAINTEXT, CONTEXT);
    expect(sealed).toMatch(/^v1:k1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(PLAINTEXT);
    expect(sealer.open(sealed, CONTEXT)).toBe(PLAINTEXT);
    expect(sealer.open(sealer.seal("", CONTEXT), CONTEXT)).toBe("");
    expect(sealer.open(sealer.seal("ünïcødé ✓", CONTEXT), CONTEXT)).toBe("ünïcødé ✓");
  });

  test("every seal uses a fresh iv", () => {
    const ivs = new Set(Array.from({ length: 50 }, () => sealer.seal(PLAINTEXT, CONTEXT).split(":")[2]));
    expect(ivs.size).toBe(50);
  });

  test("a value moved to another context fails to open", () => {
    const sealed = sealer.seal(PLAINTEXT, CONTEXT);
    expectSecretsError(() => sealer.open(sealed, "customer:43:telegramBotToken"), "tampered", [key]);
  });

  test("altered ciphertext, iv or tag fails to open", () => {
    const sealed = sealer.seal(PLAINTEXT, CONTEXT);
    const altered = [
      flipBit(sealed, 3, () => 0),
      flipBit(sealed, 2, () => 5),
      flipBit(sealed, 3, (length) => length - 1),
    ];
    for (const value of altered) expectSecretsError(() => sealer.open(value, CONTEXT), "tampered", [key]);
  });

  test("a different key under the same id fails to open", () => {
    const sealed = sealer.seal(PLAINTEXT, CONTEXT);
    expectSecretsError(() => sealerWith("k1", { k1: newKey() }).open(sealed, CONTEXT), "tampered", [key]);
  });

  test("an unknown key id is reported as such", () => {
    const sealed = sealerWith("k9", { k9: newKey() }).seal(PLAINTEXT, CONTEXT);
    expectSecretsError(() => sealer.open(sealed, CONTEXT), "unknown_key", [key]);
    expectSecretsError(() => sealer.needsRotation(sealed), "unknown_key", [key]);
  });

  test("malformed values are rejected before decryption", () => {
    const sealed = sealer.seal(PLAINTEXT, CONTEXT);
    const [, , iv, body] = sealed.split(":");
    const malformed = [
      "",
      PLAINTEXT,
      `v2:k1:${iv}:${body}`,
      `v1:k1:${iv}`,
      `v1:k1:${iv}:${body}:extra`,
      `v1:k1:${iv}AA:${body}`,
      `v1:k1:${iv}:AAAA`,
      `v1:k1:${iv}:${body}!`,
    ];
    for (const value of malformed) expectSecretsError(() => sealer.open(value, CONTEXT), "malformed", [key]);
  });

  test("rotation: the current key seals, old keys still open, needsRotation and reseal move values forward", () => {
    const oldKey = newKey();
    const newerKey = newKey();
    const before = sealerWith("k1", { k1: oldKey }).seal(PLAINTEXT, CONTEXT);
    const rotated = sealerWith("k2", { k1: oldKey, k2: newerKey });

    expect(rotated.currentKeyId).toBe("k2");
    expect(rotated.open(before, CONTEXT)).toBe(PLAINTEXT);
    expect(rotated.needsRotation(before)).toBe(true);
    const after = rotated.reseal(before, CONTEXT);
    expect(after.split(":")[1]).toBe("k2");
    expect(rotated.needsRotation(after)).toBe(false);
    expect(sealerWith("k2", { k2: newerKey }).open(after, CONTEXT)).toBe(PLAINTEXT);
  });

  test("an invalid keyring is refused at creation, naming no key bytes", () => {
    const short = randomBytes(16);
    expectSecretsError(() => sealerWith("k1", { k0: key }), "invalid_keyring", [key]);
    expectSecretsError(() => sealerWith("k1", { k1: short }), "invalid_keyring", [short]);
    expectSecretsError(() => sealerWith("k:1", { "k:1": key }), "invalid_keyring", [key]);
  });

  test("later changes to the caller's key buffer do not affect the sealer", () => {
    const mutable = Buffer.from(newKey());
    const own = sealerWith("k1", { k1: mutable });
    const sealed = own.seal(PLAINTEXT, CONTEXT);
    mutable.fill(0);
    expect(own.open(sealed, CONTEXT)).toBe(PLAINTEXT);
  });
});

test("the keyring loadConfig builds seals with SECRETS_KEY and opens with SECRETS_OLD_KEYS", () => {
  const oldKey = newKey();
  const before = sealerWith("k1", { k1: oldKey }).seal(PLAINTEXT, CONTEXT);
  const config = loadConfig({
    ...generateDevSecrets(),
    HCLOUD_TOKEN: "t",
    SECRETS_KEY_ID: "k2",
    SECRETS_OLD_KEYS: `k1:${oldKey.toString("base64")}`,
  });
  const sealer = createSealer(config.secretsKeys);
  expect(sealer.open(before, CONTEXT)).toBe(PLAINTEXT);
  expect(sealer.seal(PLAINTEXT, CONTEXT)).toStartWith("v1:k2:");
});
