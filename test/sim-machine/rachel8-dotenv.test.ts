/**
 * The simulated Rachel8 (offline/rachel8.sh) reads .env in one pass with Rachel8's dotenv rules: "export "
 * prefixes, blanks around key and value, surrounding quotes, comments, look-alike keys, the last line wins.
 * Run directly on the host (it only reads .env in its working directory), in a temp dir per case.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = new URL("../../sim/machine/offline/rachel8.sh", import.meta.url).pathname;
const TOKEN = `123456789:${"A".repeat(35)}`;
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts the simulated Rachel8 in a fresh directory holding `env` as .env (none when null). */
function start(env: string | null) {
  const dir = mkdtempSync(join(tmpdir(), "rachel8-dotenv-"));
  dirs.push(dir);
  if (env !== null) writeFileSync(join(dir, ".env"), env);
  return Bun.spawn(["/bin/sh", SCRIPT], { cwd: dir, stdout: "pipe", stderr: "pipe" });
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
async function startAndStop(env: string): Promise<{ code: number; stdout: string }> {
  const child = start(env);
  const reader = child.stdout.getReader();
  let stdout = "";
  while (!stdout.includes("\n")) {
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
      stdout:
        "Rachel8 started: Telegram bot polling (NODE_ENV=test, LOG_LEVEL=warn)\nRachel8: shutting down\n",
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
        "",
      ].join("\n"),
    });
  });
});
