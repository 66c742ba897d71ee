import { describe, expect, test } from "bun:test";
import { scrubSecrets, secretPieces } from "../../remote/scrub.ts";

describe("scrubSecrets", () => {
  test("replaces known values, Telegram tokens and long token runs; keeps words and paths", () => {
    const text = [
      "password hunter22 rejected",
      "bad token 123456789:AAHk3x_unknown-token-0123456789abcdefgh",
      "refresh sk-ant-ort01-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 expired",
      "reading /home/rachel/rachel8/.env failed: Permission denied",
    ].join("\n");
    expect(scrubSecrets(text, ["hunter22"])).toBe(
      [
        "password [redacted] rejected",
        "bad token [redacted]",
        "refresh [redacted] expired",
        "reading /home/rachel/rachel8/.env failed: Permission denied",
      ].join("\n"),
    );
  });

  test("ignores known values too short to be secrets rather than blanking ordinary words", () => {
    expect(scrubSecrets("the unit is active", ["is", ""])).toBe("the unit is active");
  });
});

describe("secretPieces", () => {
  test("splits .env and JSON files at their punctuation, keeping pieces of 8+ characters", () => {
    const env =
      "# comment\nTELEGRAM_BOT_TOKEN=123456789:AAHk3x_fixture-token-0123456789abcdefgh\nLOG_LEVEL=info\n";
    expect(secretPieces(env)).toEqual([
      "TELEGRAM_BOT_TOKEN",
      "123456789",
      "AAHk3x_fixture-token-0123456789abcdefgh",
      "LOG_LEVEL",
    ]);
    const json = JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-abc", expiresAt: 1 } });
    expect(secretPieces(json)).toEqual(["claudeAiOauth", "accessToken", "sk-ant-oat01-abc", "expiresAt"]);
  });
});
