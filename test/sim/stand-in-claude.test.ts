/**
 * The stand-in Claude Code CLI (sim/bundle/stand-in-app/claude) keeps the real one's contract (2.1.337, measured):
 * `auth status` reads only ~/.claude/.credentials.json (JSON, exit 0 logged in / 1 not), and a model call
 * refreshes an access token about to expire by rotating both tokens in that file. Run on the host with a
 * temporary HOME.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderCredentials } from "../../domain/rachel8.ts";

const CLI = new URL("../../sim/bundle/stand-in-app/claude", import.meta.url).pathname;
const homes: string[] = [];

afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

function home(credentials: string | null): string {
  const dir = mkdtempSync(join(tmpdir(), "claude-cli-"));
  homes.push(dir);
  if (credentials !== null) {
    mkdirSync(join(dir, ".claude"), { mode: 0o700 });
    writeFileSync(join(dir, ".claude/.credentials.json"), credentials, { mode: 0o600 });
  }
  return dir;
}

function claude(dir: string, ...args: string[]) {
  const run = Bun.spawnSync([CLI, ...args], { env: { HOME: dir, PATH: "/usr/bin:/bin" } });
  return { code: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
}

const ours = (expiresAt: number, refreshToken = "sk-ant-ort01-old") =>
  renderCredentials({
    accessToken: "sk-ant-oat01-old",
    refreshToken,
    expiresAt,
    scopes: ["user:inference", "user:profile"],
  });

describe("the stand-in claude", () => {
  test("--version names the pinned release", () => {
    expect(claude(home(null), "--version").stdout).toBe("2.1.337 (Claude Code)\n");
  });

  test("auth status: logged in on the file the injector writes, expired or not; exit 0", () => {
    for (const expiresAt of [Date.now() + 3_600_000, Date.now() - 3_600_000]) {
      const result = claude(home(ours(expiresAt)), "auth", "status");
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ loggedIn: true, authMethod: "claude.ai" });
    }
  });

  test.each([
    ["no file", null],
    ["malformed JSON", "{not json"],
    ["no inference scope", JSON.stringify({ claudeAiOauth: { accessToken: "a", scopes: ["user:profile"] } })],
    ["no access token", JSON.stringify({ claudeAiOauth: { refreshToken: "r", scopes: ["user:inference"] } })],
  ])("auth status: %s is logged out, exit 1", (_, credentials) => {
    const result = claude(home(credentials), "auth", "status");
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ loggedIn: false, authMethod: "none" });
  });

  test("a model call refreshes a token about to expire: both tokens rotate, the file stays private", () => {
    const dir = home(ours(Date.now() + 60_000));
    const file = join(dir, ".claude/.credentials.json");
    expect(claude(dir, "-p", "hello")).toEqual({ code: 0, stdout: "(simulated Claude) hello\n", stderr: "" });
    const oauth = JSON.parse(readFileSync(file, "utf8")).claudeAiOauth;
    expect(oauth.accessToken).toStartWith("sk-ant-oat01-");
    expect(oauth.accessToken).not.toBe("sk-ant-oat01-old");
    expect(oauth.refreshToken).not.toBe("sk-ant-ort01-old");
    expect(oauth.expiresAt).toBeGreaterThan(Date.now() + 7 * 3_600_000);
    expect(oauth.scopes).toEqual(["user:inference", "user:profile"]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("a token far from expiry is used as it is", () => {
    const credentials = ours(Date.now() + 3_600_000);
    const dir = home(credentials);
    expect(claude(dir, "-p", "hi").code).toBe(0);
    expect(readFileSync(join(dir, ".claude/.credentials.json"), "utf8")).toBe(credentials);
  });

  test("an expired token without a refresh token fails the call", () => {
    const expired = JSON.stringify({
      claudeAiOauth: { accessToken: "a", expiresAt: Date.now() - 1, scopes: ["user:inference"] },
    });
    const result = claude(home(expired), "-p", "hi");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("OAuth token has expired");
  });
});
