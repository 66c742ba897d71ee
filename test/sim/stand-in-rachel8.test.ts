/**
 * The simulated Rachel8 (sim/bundle/stand-in-app/rachel8/rachel8.sh) reads .env in one pass with Rachel8's dotenv rules: "export "
 * prefixes, blanks around key and value, surrounding quotes, comments, look-alike keys, the last line wins.
 * Run directly on the host (it only reads .env in its working directory), in a temp dir per case.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = new URL("../../sim/bundle/stand-in-app/rachel8/rachel8.sh", import.meta.url).pathname;
const TOKEN = `123456789:${"A".repeat(35)}`;
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const STAND_IN_CLAUDE = new URL("../../sim/bundle/stand-in-app/claude", import.meta.url).pathname;

interface Box {
  /** HOME of the app's user, also its working directory. */
  home: string;
  /** Directory on PATH (nothing else is). */
  bin: string;
}

/** A fresh home holding `env` as .env (none when null) and an empty bin directory as the whole PATH. */
function box(env: string | null): Box {
  const home = mkdtempSync(join(tmpdir(), "rachel8-dotenv-"));
  dirs.push(home);
  if (env !== null) writeFileSync(join(home, ".env"), env);
  const bin = join(home, "bin");
  mkdirSync(bin);
  return { home, bin };
}

/** Starts the simulated Rachel8 in `where` (or a fresh box holding `env`). */
function start(env: string | null, where: Box = box(env)) {
  return Bun.spawn(["/bin/sh", SCRIPT], {
    cwd: where.home,
    env: { HOME: where.home, PATH: `${where.bin}:/usr/bin:/bin` },
    stdout: "pipe",
    stderr: "pipe",
  });
}

async function runToExit(env: string | null) {
  const child = start(env);
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  return { code, stdout, stderr };
}

/** Runs a valid configuration until its startup line, stops it as systemd would, and returns its output. */
async function startAndStop(env: string, where?: Box): Promise<{ code: number; stdout: string }> {
  const child = start(env, where);
  const reader = child.stdout.getReader();
  let stdout = "";
  while (!stdout.includes("Rachel8 started")) {
    const { done, value } = await reader.read();
    if (done) break;
    stdout += new TextDecoder().decode(value);
  }
  child.kill("SIGTERM");
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    stdout += new TextDecoder().decode(value);
  }
  return { code: await child.exited, stdout };
}

describe("the simulated Rachel8's .env", () => {
  test("missing: it says so and exits 0", async () => {
    const result = await runToExit(null);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Rachel8: no \.env in .*; run the setup first\. Exiting\.\n$/);
  });

  test("export prefixes, blanks, quotes and a later line that wins are read as dotenv reads them", async () => {
    const env = [
      `  export TELEGRAM_BOT_TOKEN = "${TOKEN}"  `,
      "# OWNER_TELEGRAM_USER_ID=oops",
      "OWNER_TELEGRAM_USER_ID=0",
      "\texport\tOWNER_TELEGRAM_USER_ID\t=\t'42'",
      "SHARED_FOLDER_PATH=/home/rachel/shared",
      "NODE_ENV=development",
      'NODE_ENV="test"',
      "LOG_LEVEL='warn'",
    ].join("\n");
    expect(await startAndStop(env)).toEqual({
      code: 0,
      stdout: [
        'Rachel8: codex: Executable not found in standard locations for "codex"; every message will fail',
        "Rachel8 started: Telegram bot polling (NODE_ENV=test, LOG_LEVEL=warn, AI_PROVIDER=codex)",
        "Rachel8: shutting down",
        "",
      ].join("\n"),
    });
  });

  test("invalid: every bad variable named once, in Rachel8's order, never its value; exit 1", async () => {
    const env = [
      `TELEGRAM_BOT_TOKEN=${TOKEN}`,
      "TELEGRAM_BOT_TOKEN=secret-but-wrong",
      `TELEGRAM_BOT_TOKEN_BACKUP=${TOKEN}`,
      "OWNER_TELEGRAM_USER_ID=042",
      "SHARED_FOLDER_PATH=''",
      "exportNODE_ENV=production",
      "LOG_LEVEL = info",
      "AI_PROVIDER=openai",
    ].join("\n");
    expect(await runToExit(env)).toEqual({
      code: 1,
      stdout: "",
      stderr: [
        "Invalid environment configuration:",
        "  TELEGRAM_BOT_TOKEN: must look like 123456789:AA... (a bot token from @BotFather)",
        "  OWNER_TELEGRAM_USER_ID: must be a positive integer",
        "  SHARED_FOLDER_PATH: must not be empty",
        "  NODE_ENV: must be one of development, production, test",
        "  AI_PROVIDER: must be one of claudecode, codex, claude",
        "",
      ].join("\n"),
    });
  });
});

describe("the simulated Rachel8's AI provider", () => {
  const base = [
    `TELEGRAM_BOT_TOKEN=${TOKEN}`,
    "OWNER_TELEGRAM_USER_ID=42",
    "SHARED_FOLDER_PATH=/home/rachel/shared",
    "NODE_ENV=production",
    "LOG_LEVEL=info",
  ];
  const credentials = (scopes: string[]) =>
    JSON.stringify({
      claudeAiOauth: { accessToken: "a", refreshToken: "r", expiresAt: Date.now() + 3_600_000, scopes },
    });

  /** A box whose `claude` (the stand-in) sits at `cliAt`, relative to its home, with `creds` as credentials. */
  function claudeBox(cliAt: string | null, creds: string | null): Box {
    const where = box([...base, "AI_PROVIDER=claude"].join("\n"));
    if (cliAt !== null) {
      mkdirSync(join(where.home, cliAt, ".."), { recursive: true });
      copyFileSync(STAND_IN_CLAUDE, join(where.home, cliAt));
    }
    if (creds !== null) {
      mkdirSync(join(where.home, ".claude"));
      writeFileSync(join(where.home, ".claude/.credentials.json"), creds);
    }
    return where;
  }

  test("the alias claude means claudecode; its CLI is found in ~/.local/bin and logged in", async () => {
    const where = claudeBox(".local/bin/claude", credentials(["user:inference"]));
    const { stdout } = await startAndStop("", where);
    expect(stdout.split("\n").slice(0, 2)).toEqual([
      `Rachel8: claudecode: ${where.home}/.local/bin/claude is logged in`,
      "Rachel8 started: Telegram bot polling (NODE_ENV=production, LOG_LEVEL=info, AI_PROVIDER=claudecode)",
    ]);
  });

  test("PATH comes before the fixed list", async () => {
    const where = claudeBox("bin/claude", credentials(["user:inference"]));
    expect((await startAndStop("", where)).stdout).toStartWith(
      `Rachel8: claudecode: ${where.bin}/claude is logged in\n`,
    );
  });

  test("credentials without the inference scope are a logged-out CLI", async () => {
    const where = claudeBox(".bun/bin/claude", credentials(["user:profile"]));
    expect((await startAndStop("", where)).stdout).toStartWith(
      "Rachel8: claudecode is logged out. Run /login to reconnect.\n",
    );
  });

  test("a CLI outside the app's paths is not found", async () => {
    const where = claudeBox("opt/claude", credentials(["user:inference"]));
    expect((await startAndStop("", where)).stdout).toStartWith(
      'Rachel8: claudecode: Executable not found in standard locations for "claude"; every message will fail\n',
    );
  });
});
