/**
 * Step verify: the bot can think, and it runs. First, as the app's user with the unit's environment, the
 * Claude Code CLI is where Rachel8 looks for it and `claude auth status` says logged in (failures: cli_missing,
 * not_logged_in, login_expired_no_refresh); then the unit is `active` and stays so for VERIFY_SETTLE_MS (a
 * crash loop fails with the last journal lines, secrets scrubbed). Idempotent: it only reads.
 */
import { z } from "zod";
import type { CustomerSecrets } from "../../../domain/customers.ts";
import { RACHEL8_PATHS, RACHEL8_UNIT_NAME } from "../../../domain/rachel8.ts";
import { checkClaudeLogin } from "../../../remote/claude-login.ts";
import type { RemoteSession } from "../../../remote/session.ts";
import { verifyActive } from "../../../remote/verify.ts";
import { connectToServer, type RemoteStepDeps } from "../../shared/connect-server.ts";
import { type InstanceRow, loadInstance } from "../../shared/instance-row.ts";
import { sshStepRetry } from "../../shared/retry-policies.ts";
import { type Step, stepRef } from "../../step.ts";
import { awaitCloudInitRef } from "./await-cloud-init.ts";
import { customerSecretsOf } from "./inject-secrets.ts";

export const verifyOutputSchema = z.object({
  /** `systemctl is-active` checks made. */
  checks: z.number().int(),
  activeForMs: z.number(),
  /** Where the app finds the Claude Code CLI. */
  cliPath: z.string(),
});
export type VerifyOutput = z.infer<typeof verifyOutputSchema>;

export const verifyRef = stepRef("verify", verifyOutputSchema);

export function verifyStep(deps: RemoteStepDeps): Step<VerifyOutput> {
  return {
    ...verifyRef,
    retry: sshStepRetry,
    timeoutMs: deps.settings.verifySettleMs + 60_000,
    async run(ctx) {
      const row = loadInstance(deps.db, ctx.instanceId);
      const callback = ctx.optionalOutputOf(awaitCloudInitRef);
      const session = await connectToServer(deps, row, callback, ctx.signal);
      try {
        return await verifyBotRuns(deps, row, session, ctx.signal);
      } finally {
        await session.close();
      }
    },
  };
}

/** The checks themselves, over a session the caller owns (the upgrade runs them before and after a rollback). */
export async function verifyBotRuns(
  deps: RemoteStepDeps,
  row: InstanceRow,
  session: RemoteSession,
  signal: AbortSignal,
): Promise<VerifyOutput> {
  // Journal lines of a failing app may echo its secrets: each secret value is scrubbed from the error
  // (only those: the .env's other words, e.g. "claudecode", stay readable in the journal lines).
  const redact = secretValues(customerSecretsOf(deps, row));
  const login = await checkClaudeLogin(session, { credentialsPath: RACHEL8_PATHS.credentials, signal });
  const active = await verifyActive(session, RACHEL8_UNIT_NAME, {
    settleMs: deps.settings.verifySettleMs,
    redact,
    signal,
  });
  return { ...active, cliPath: login.cliPath };
}

/** What a customer's secrets hold that must never be shown: the tokens, and the owner's Telegram id. */
function secretValues(secrets: CustomerSecrets): string[] {
  const { telegramBotToken, ownerTelegramUserId, claude } = secrets;
  return [telegramBotToken, String(ownerTelegramUserId), claude.accessToken, claude.refreshToken];
}
