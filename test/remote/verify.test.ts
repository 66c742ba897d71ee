import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { RACHEL8_PATHS, RACHEL8_UNIT_NAME, rachel8Unit, renderEnv } from "../../domain/rachel8.ts";
import { type MachineFixture, startMachine } from "../../harness/remote/machine-fixture.ts";
import { sshdTestsEnabled } from "../../harness/support/sshd.ts";
import { UnitNotActiveError } from "../../remote/errors.ts";
import { injectSecrets, type SecretFile, type UnitFile } from "../../remote/inject.ts";
import { verifyActive } from "../../remote/verify.ts";

const enabled = sshdTestsEnabled(process.env);
const TOKEN = "1122334455:AAG-verify_fixture_token_abcdefghijklmnop";
/** Long enough to pass Rachel8's length rule only if the digits before ":" were 8+; they are not. */
const BAD_TOKEN = "1234:AAG-leaky_fixture_token_abcdefghijklmnopqrstu";
/** Generous: a crash is reported as soon as it is seen, so only the healthy case waits this long. */
const CRASH_SETTLE_MS = 20_000;

describe.skipIf(!enabled)("verifyActive (real sshd, systemd stand-in)", () => {
  let machine: MachineFixture;
  let unit: UnitFile;
  const envFile = (content: string): SecretFile => ({ path: RACHEL8_PATHS.env, content });
  const goodEnv = () =>
    renderEnv({
      telegramBotToken: TOKEN,
      ownerTelegramUserId: 7,
      sharedFolderPath: join(machine.sshd.user.home, RACHEL8_PATHS.sharedDir),
      nodeEnv: "production",
      logLevel: "info",
      aiProvider: "claudecode",
    });

  beforeAll(async () => {
    machine = await startMachine();
    const text = rachel8Unit({
      user: machine.sshd.user.name,
      home: machine.sshd.user.home,
      release: `${machine.sshd.user.home}/release`,
    });
    unit = { name: RACHEL8_UNIT_NAME, text, dir: machine.systemd.unitDir };
  });

  afterAll(async () => {
    await machine?.close();
  });

  test("a unit whose .env was never written is inactive (ConditionPathExists), reported as such", async () => {
    const credentialsOnly: SecretFile = { path: RACHEL8_PATHS.credentials, content: "{}\n" };
    await injectSecrets(machine.session, [credentialsOnly], unit);
    const err = await verifyActive(machine.session, RACHEL8_UNIT_NAME, { settleMs: CRASH_SETTLE_MS }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnitNotActiveError);
    expect((err as UnitNotActiveError).state).toBe("inactive");
  });

  test("an app that stays up passes after being active at every check for the settle period", async () => {
    await injectSecrets(machine.session, [envFile(goodEnv())], unit);
    const result = await verifyActive(machine.session, RACHEL8_UNIT_NAME, { settleMs: 1_000, pollMs: 200 });
    expect(result.checks).toBeGreaterThanOrEqual(2);
    expect(result.activeForMs).toBeGreaterThanOrEqual(1_000);
  });

  test("the whole settle period is one SSH round trip, passing or failing", async () => {
    await injectSecrets(machine.session, [envFile(goodEnv())], unit);
    const beforePass = machine.serverExecs();
    const passed = await verifyActive(machine.session, RACHEL8_UNIT_NAME, { settleMs: 600, pollMs: 100 });
    expect(passed.checks).toBe(7);
    expect(machine.serverExecs() - beforePass).toBe(1);

    await injectSecrets(machine.session, [envFile(goodEnv().replace(TOKEN, BAD_TOKEN))], unit);
    const beforeFail = machine.serverExecs();
    const err = await verifyActive(machine.session, RACHEL8_UNIT_NAME, {
      settleMs: CRASH_SETTLE_MS,
      pollMs: 100,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnitNotActiveError);
    expect(machine.serverExecs() - beforeFail).toBe(1);
  });

  test("an app that exits on a bad .env fails with its journal, the leaked token scrubbed", async () => {
    await injectSecrets(machine.session, [envFile(goodEnv().replace(TOKEN, BAD_TOKEN))], unit);
    const err = await verifyActive(machine.session, RACHEL8_UNIT_NAME, {
      settleMs: CRASH_SETTLE_MS,
      pollMs: 100,
      redact: [BAD_TOKEN],
    }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(UnitNotActiveError);
    const failure = err as UnitNotActiveError;
    expect(failure.state).toBe("failed");
    expect(failure.retryable).toBe(false);
    expect(failure.journal.some((line) => line.includes("invalid TELEGRAM_BOT_TOKEN: [redacted]"))).toBe(
      true,
    );
    expect(failure.message).toContain("invalid TELEGRAM_BOT_TOKEN");
    expect(`${failure.message}${failure.journal.join("\n")}`).not.toContain(BAD_TOKEN);
    expect(failure.message).not.toContain("leaky_fixture_token");
  });

  test("an abort during the settle period rejects with the signal's reason", async () => {
    await injectSecrets(machine.session, [envFile(goodEnv())], unit);
    const controller = new AbortController();
    const pending = verifyActive(machine.session, RACHEL8_UNIT_NAME, {
      settleMs: 60_000,
      signal: controller.signal,
    });
    controller.abort(new Error("worker shutting down"));
    await expect(pending).rejects.toThrow("worker shutting down");
  });
});
