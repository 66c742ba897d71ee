/**
 * A made-up customer whose secrets pass Rachel8's validation (so provisioning runs as for a real one) but
 * open nothing: random each run, never a real Telegram bot or Claude account.
 */
import { randomBytes, randomInt } from "node:crypto";
import type { CustomerSecrets } from "../domain/customers.ts";
import { CLAUDE_OAUTH_SCOPES } from "../domain/rachel8.ts";

/** How long the fake OAuth access token claims to stay valid, in ms: one day. */
const FAKE_TOKEN_LIFETIME_MS = 86_400_000;

/** Fresh fake secrets; `marker` (letters, digits, `-`) is embedded in each so a test can search for them. */
export function fakeCustomerSecrets(marker = "demo", now = Date.now()): CustomerSecrets {
  const random = (bytes: number) => randomBytes(bytes).toString("base64url");
  return {
    // Rachel8: digits, a colon, then at least 35 of [A-Za-z0-9_-].
    telegramBotToken: `${randomInt(10_000_000, 99_999_999)}${randomInt(10, 99)}:${marker}-tg-${random(30)}`,
    ownerTelegramUserId: randomInt(100_000, 2_000_000_000),
    claude: {
      accessToken: `sk-ant-oat01-${marker}-access-${random(32)}`,
      refreshToken: `sk-ant-ort01-${marker}-refresh-${random(32)}`,
      expiresAt: now + FAKE_TOKEN_LIFETIME_MS,
      scopes: [...CLAUDE_OAUTH_SCOPES],
    },
  };
}
