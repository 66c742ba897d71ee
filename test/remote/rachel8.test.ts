import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CLAUDE_OAUTH_SCOPES,
  Rachel8ConfigError,
  type Rachel8EnvInput,
  rachel8Unit,
  renderCredentials,
  renderEnv,
} from "../../domain/rachel8.ts";

const TOKEN = "123456789:AAHk3x_Secret-Bot-Token-0123456789abcdef";
const goodEnv: Rachel8EnvInput = {
  telegramBotToken: TOKEN,
  ownerTelegramUserId: 987654321,
  sharedFolderPath: "/home/rachel/shared",
  nodeEnv: "production",
  logLevel: "info",
  aiProvider: "claudecode",
};
const tempDirs: string[] = [];

afterAll(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "rachel8-facts-"));
  tempDirs.push(dir);
  return dir;
}

function expectConfigError(render: () => unknown, fields: string[], secret: string): void {
  try {
    render();
  } catch (err) {
    expect(err).toBeInstanceOf(Rachel8ConfigError);
    expect((err as Rachel8ConfigError).fields).toEqual(fields);
    expect((err as Error).message).not.toContain(secret);
    expect(JSON.stringify(err)).not.toContain(secret);
    return;
  }
  throw new Error("expected Rachel8ConfigError");
}

describe("renderEnv", () => {
  test("Bun (what Rachel8 runs on) reads back exactly the values rendered", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, ".env"), renderEnv(goodEnv));
    const names = [
      "TELEGRAM_BOT_TOKEN",
      "OWNER_TELEGRAM_USER_ID",
      "SHARED_FOLDER_PATH",
      "NODE_ENV",
      "LOG_LEVEL",
      "AI_PROVIDER",
    ];
    const script = `console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => process.env[n])))`;
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir };
    const read = spawnSync(process.execPath, ["-e", script], { cwd: dir, env, encoding: "utf8" });
    expect(read.status).toBe(0);
    expect(JSON.parse(read.stdout)).toEqual([
      TOKEN,
      "987654321",
      "/home/rachel/shared",
      "production",
      "info",
      "claudecode",
    ]);
  });

  test.each([
    ["telegramBotToken", "1234567:AAHk3x_Secret-Bot-Token-0123456789abcdef", "TELEGRAM_BOT_TOKEN"],
    ["telegramBotToken", "123456789:short-secret", "TELEGRAM_BOT_TOKEN"],
    ["telegramBotToken", `${TOKEN}\nLOG_LEVEL=debug`, "TELEGRAM_BOT_TOKEN"],
    ["ownerTelegramUserId", 0, "OWNER_TELEGRAM_USER_ID"],
    ["ownerTelegramUserId", "-42", "OWNER_TELEGRAM_USER_ID"],
    ["ownerTelegramUserId", 1.5, "OWNER_TELEGRAM_USER_ID"],
    ["sharedFolderPath", "", "SHARED_FOLDER_PATH"],
    ["sharedFolderPath", "/home/rachel/$HOME", "SHARED_FOLDER_PATH"],
    ["nodeEnv", "staging", "NODE_ENV"],
    ["logLevel", "trace", "LOG_LEVEL"],
    ["aiProvider", "openai", "AI_PROVIDER"],
    ["aiProvider", "", "AI_PROVIDER"],
  ] as const)("%s = %p is rejected naming %s, not the value", (key, value, field) => {
    const input = { ...goodEnv, [key]: value } as Rachel8EnvInput;
    // Short values ("0", "") would match by chance; every longer one must be absent.
    const probe = String(value).length >= 4 ? String(value) : "\u0000";
    expectConfigError(() => renderEnv(input), [field], probe);
  });

  test("every bad field is named at once", () => {
    const input = {
      ...goodEnv,
      telegramBotToken: "nope-secret",
      logLevel: "loud",
    } as unknown as Rachel8EnvInput;
    expectConfigError(() => renderEnv(input), ["TELEGRAM_BOT_TOKEN", "LOG_LEVEL"], "nope-secret");
  });

  test("the owner id may come as a decimal string", () => {
    expect(renderEnv({ ...goodEnv, ownerTelegramUserId: "42" })).toContain("\nOWNER_TELEGRAM_USER_ID=42\n");
  });
});

describe("renderCredentials", () => {
  const creds = {
    accessToken: "sk-ant-oat01-access-SECRET",
    refreshToken: "sk-ant-ort01-refresh-SECRET",
    expiresAt: 1_767_225_600_000,
    scopes: [...CLAUDE_OAUTH_SCOPES],
  };

  test("renders the shape Claude Code reads", () => {
    expect(JSON.parse(renderCredentials(creds))).toEqual({ claudeAiOauth: creds });
  });

  test("an expiry in seconds, a missing inference scope and a blank token are named, values not", () => {
    const bad = {
      ...creds,
      expiresAt: 1_767_225_600,
      scopes: ["user:profile"],
      refreshToken: "has space SECRET",
    };
    expectConfigError(
      () => renderCredentials(bad),
      ["claudeAiOauth.refreshToken", "claudeAiOauth.expiresAt", "claudeAiOauth.scopes"],
      "SECRET",
    );
  });
});

describe("rachel8Unit", () => {
  test("names the user, the release's Bun and app, the working directory and the .env condition", () => {
    const unit = rachel8Unit({ user: "rachel", home: "/home/rachel" });
    expect(unit).toContain("\nUser=rachel\n");
    expect(unit).toContain("\nConditionPathExists=/home/rachel/rachel8/.env\n");
    expect(unit).toContain("\nWorkingDirectory=/home/rachel/rachel8\n");
    expect(unit).toContain(
      "\nExecStart=/opt/rachel8/current/bin/bun run /opt/rachel8/current/app/src/index.ts\n",
    );
    expect(unit).toContain("\nRestart=on-failure\n");
    expect(unit).not.toMatch(/RestartSteps|RestartMaxDelaySec/);
  });

  test("rejects a user or home that would need quoting in a unit file", () => {
    expectConfigError(() => rachel8Unit({ user: "Rachel Admin", home: "/home/rachel" }), ["user"], "\u0000");
    expectConfigError(() => rachel8Unit({ user: "rachel", home: "/home/%i" }), ["home"], "\u0000");
  });

  test("passes systemd-analyze verify (systemd 252) with no output at all", async () => {
    expect(existsSync("/usr/bin/systemd-analyze")).toBe(true);
    // verify insists ExecStart's binary exists: give a temp release a real Bun at bin/bun.
    const home = await tempDir();
    const release = join(home, "release");
    await mkdir(join(release, "bin"), { recursive: true });
    await symlink(process.execPath, join(release, "bin/bun"));
    const unitPath = join(home, "rachel8.service");
    await writeFile(unitPath, rachel8Unit({ user: "rachel", home, release }));
    const verify = spawnSync("systemd-analyze", ["verify", unitPath], { cwd: home, encoding: "utf8" });
    expect(`${verify.stdout}${verify.stderr}`).toBe("");
    expect(verify.status).toBe(0);

    // The check is not vacuous: a key systemd 252 does not know shows up as output.
    await writeFile(
      unitPath,
      rachel8Unit({ user: "rachel", home, release }).replace("RestartSec=5s", "RestartSteps=3"),
    );
    const noisy = spawnSync("systemd-analyze", ["verify", unitPath], { cwd: home, encoding: "utf8" });
    expect(noisy.stderr).toContain("RestartSteps");
  });
});
