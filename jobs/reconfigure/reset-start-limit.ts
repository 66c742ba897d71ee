/**
 * Step reset-start-limit: systemd counts every start of the unit, deliberate restarts included, against
 * its StartLimitBurst= (5 in 300 s). Without a reset, a sixth reconfigure within five minutes, or the one
 * after a crash loop, would have its restart refused and leave the bot stopped. `systemctl reset-failed`
 * clears that count (and a failed state); crashes after it are still limited. The session is handed over
 * to inject-secrets, so the reconfigure still pays one SSH handshake.
 * Idempotent: resetting twice is resetting once.
 */
import { z } from "zod";
import { RACHEL8_UNIT_NAME } from "../../domain/rachel8.ts";
import { shellQuote } from "../../remote/shell-quote.ts";
import { PermanentError } from "../errors.ts";
import { connectToServer, type RemoteStepDeps } from "../shared/connect-server.ts";
import { sshStepRetry } from "../shared/retry-policies.ts";
import { type Step, stepRef } from "../step.ts";

/** Bound of the remote command, in ms. */
const RESET_TIMEOUT_MS = 15_000;
/** How much of systemctl's stderr a failure quotes. */
const STDERR_TAIL_CHARS = 300;

export const resetStartLimitRef = stepRef("reset-start-limit", z.null());

export function resetStartLimitStep(deps: RemoteStepDeps): Step<null> {
  return {
    ...resetStartLimitRef,
    retry: sshStepRetry,
    timeoutMs: RESET_TIMEOUT_MS + 30_000,
    async run(ctx) {
      const session = await connectToServer(deps, ctx.instanceId, undefined, ctx.signal);
      const command = `sudo -n systemctl reset-failed ${shellQuote(RACHEL8_UNIT_NAME)}`;
      const result = await session
        .exec(command, { timeoutMs: RESET_TIMEOUT_MS, signal: ctx.signal })
        .catch(async (err: unknown) => {
          await session.close();
          throw err;
        });
      if (result.code !== 0) {
        await session.close();
        const stderr = result.stderr.trim().slice(-STDERR_TAIL_CHARS) || "no stderr";
        throw new PermanentError(`${session.where}: ${command} exited ${result.code}: ${stderr}`, {
          code: "reset_failed_refused",
        });
      }
      await deps.sessions.handOver(session);
      return null;
    },
  };
}
