import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ParsedKey, utils } from "ssh2";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { parsePinnedHostKey } from "../../remote/host-key.ts";

/** ssh2's own generator gets ~1 in 256 wrong; this many pairs would show a similar fault. */
const PAIRS = 2000;
const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function parsed(text: string): ParsedKey {
  const key = utils.parseKey(text);
  if (key instanceof Error) throw key;
  return Array.isArray(key) ? (key[0] as ParsedKey) : key;
}

describe("generateSshKeyPair", () => {
  test(`${PAIRS} pairs: every public key is a full 32-byte ed25519 key matching its private half`, () => {
    for (let i = 0; i < PAIRS; i++) {
      const pair = generateSshKeyPair(`key-${i}`);
      expect(parsePinnedHostKey(pair.publicKey).blob.length).toBe(51);
      expect(parsed(pair.privateKey).getPublicSSH().equals(parsed(pair.publicKey).getPublicSSH())).toBe(true);
    }
  });

  test("OpenSSH's ssh-keygen derives the same public line from the private key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rachel-keygen-"));
    dirs.push(dir);
    const pair = generateSshKeyPair("instance-42");
    await writeFile(join(dir, "id_ed25519"), pair.privateKey, { mode: 0o600 });
    const derived = spawnSync("ssh-keygen", ["-y", "-f", join(dir, "id_ed25519")], { encoding: "utf8" });
    expect(derived.stderr).toBe("");
    expect(derived.stdout.trim()).toBe(pair.publicKey);
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* instance-42$/);
  });

  test("a signature made with the private key verifies with the public key", () => {
    const pair = generateSshKeyPair("signer");
    const data = Buffer.from("exchange hash");
    const signature = parsed(pair.privateKey).sign(data);
    expect(parsed(pair.publicKey).verify(data, signature)).toBe(true);
  });
});
