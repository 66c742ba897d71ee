/**
 * Step verify: the unit is `active` and stays so for VERIFY_SETTLE_MS (a crash loop fails with the last
 * journal lines, secrets scrubbed). Idempotent: it only reads.
 */
import { secretPieces } from "../../remote/scrub.ts";
import { verifyActive } from "../../remote/verify.ts";
import type { Step } from "../../step.ts";
import { RACHEL8_UNIT_NAME } from "../rachel8.ts";
import { connectToServer, type RemoteStepDeps } from "./connect-server.ts";
import { customerSecretsOf, secretFiles } from "./inject-secrets.ts";
import { loadInstance } from "./instance-row.ts";
import { sshStepRetry } from "./retry-policies.ts";

export interface VerifyOutput {
  /** `systemctl is-active` checks made. */
  checks: number;
  activeForMs: number;
}

export function verifyStep(deps: RemoteStepDeps): Step<VerifyOutput> {
  return {
    name: "verify",
    retry: sshStepRetry,
    timeoutMs: deps.settings.verifySettleMs + 60_000,
    async run(ctx) {
      // Journal lines of a failing app may echo its secrets: every value is scrubbed from the error.
      const row = loadInstance(deps.db, ctx.instanceId);
      const redact = secretFiles(customerSecretsOf(deps, row)).flatMap((file) => secretPieces(file.content));
      const session = await connectToServer(deps, row, ctx.outputs, ctx.signal);
      try {
        return await verifyActive(session, RACHEL8_UNIT_NAME, {
          settleMs: deps.settings.verifySettleMs,
          redact,
          signal: ctx.signal,
        });
      } finally {
        await session.close();
      }
    },
  };
}
