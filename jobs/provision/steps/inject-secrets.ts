/**
 * Step inject-secrets: the customer's Claude credentials and Rachel8 .env (mode 0600, atomic) and the
 * systemd unit, sent over SSH stdin in one round trip, then the unit enabled and started. On a provision, a
 * round trip before it confirms the first boot (setup marker, cloud-init status): a failed one fails the
 * step for good, before any secret leaves, and the rollback replaces the server. Secrets never
 * touch user-data, payloads, logs or the step output.
 * The credentials file is written only on the first delivery to a server and when the customer sent new
 * credentials since (claude-delivery.ts): afterwards the machine's Claude Code owns its refreshed tokens.
 * Idempotent: unchanged files are left alone and the unit is merely (re)started. The open session is
 * handed over to verify. The secrets are read when the attempt starts, so a reconfigure (which reuses this
 * step) delivers whatever is stored by then.
 */
import { z } from "zod";
import { recordInstanceBundle } from "../../../domain/bundles/usage.ts";
import type { CustomerSecrets } from "../../../domain/customers.ts";
import { APP_HOME, APP_USER } from "../../../domain/ownership.ts";
import {
  CLAUDE_AI_PROVIDER,
  RACHEL8_PATHS,
  RACHEL8_UNIT_NAME,
  rachel8Unit,
  renderCredentials,
  renderEnv,
} from "../../../domain/rachel8.ts";
import { confirmFirstBoot, firstBootResultSchema } from "../../../remote/first-boot.ts";
import { injectSecrets, type SecretFile, type UnitFile } from "../../../remote/inject.ts";
import type { RemoteSession } from "../../../remote/session.ts";
import { PermanentError } from "../../errors.ts";
import { connectToServer, type RemoteStepDeps } from "../../shared/connect-server.ts";
import { type InstanceRow, loadInstance } from "../../shared/instance-row.ts";
import { sshStepRetry } from "../../shared/retry-policies.ts";
import { type Step, stepRef } from "../../step.ts";
import { SETUP_COMPLETE_MARKER } from "../cloud-init/bundle-boot.ts";
import { awaitCloudInitRef } from "./await-cloud-init.ts";
import { planClaudeDelivery, recordClaudeDelivery } from "./claude-delivery.ts";

export const injectSecretsRef = stepRef(
  "inject-secrets",
  z.object({
    /** Which files had to change on this run (paths only). */
    changedFiles: z.array(z.string()),
    action: z.enum(["started", "restarted"]),
    /** Whether the Claude credentials file was written (a new version) or left to the machine. */
    credentials: z.enum(["written", "kept"]),
    /** Set when the delivered credentials may be stale (see ClaudeDeliveryPlan.reloginReason). */
    needsRelogin: z.literal(true).optional(),
    /** What the first-boot check found; absent on a reconfigure (the server was confirmed when provisioned). */
    firstBoot: firstBootResultSchema.optional(),
  }),
);
export type InjectSecretsOutput = z.infer<typeof injectSecretsRef.output>;

export function injectSecretsStep(deps: RemoteStepDeps): Step<InjectSecretsOutput> {
  return {
    ...injectSecretsRef,
    retry: sshStepRetry,
    timeoutMs: 150_000,
    async run(ctx) {
      // One read of the row for both the secrets and the connection.
      const row = loadInstance(deps.db, ctx.instanceId);
      const secrets = customerSecretsOf(deps, row);
      const plan = planClaudeDelivery(row, deps.customers.claudeState(customerIdOf(row)));
      const files = secretFiles(secrets).filter(
        (file) => plan.write || file.path !== RACHEL8_PATHS.credentials,
      );
      // Only a provision waited for the callback; a reconfigure's server was confirmed back then.
      const callback = ctx.optionalOutputOf(awaitCloudInitRef);
      const session = await connectToServer(deps, row, callback, ctx.signal);
      const unit = { name: RACHEL8_UNIT_NAME, text: rachel8Unit({ user: APP_USER, home: APP_HOME }) };
      const confirm = callback !== undefined;
      const result = await confirmThenInject(session, files, unit, confirm, ctx.signal).catch(
        async (err: unknown) => {
          await session.close();
          throw err;
        },
      );
      const now = (deps.now ?? Date.now)();
      recordClaudeDelivery(deps, row, plan, ctx.log, now);
      if (result.firstBoot?.bundleId)
        recordInstanceBundle(deps.db, ctx.instanceId, result.firstBoot.bundleId, now);
      // verify comes next: it reuses this connection instead of a second handshake.
      await deps.sessions.handOver(session);
      return {
        ...result,
        credentials: plan.write ? "written" : "kept",
        ...(plan.reloginReason !== null && { needsRelogin: true as const }),
      };
    },
  };
}

async function confirmThenInject(
  session: RemoteSession,
  files: SecretFile[],
  unit: UnitFile,
  confirm: boolean,
  signal: AbortSignal,
): Promise<Pick<InjectSecretsOutput, "changedFiles" | "action" | "firstBoot">> {
  const firstBoot = confirm
    ? await confirmFirstBoot(session, { markerPath: SETUP_COMPLETE_MARKER, signal })
    : undefined;
  const { changedFiles, action } = await injectSecrets(session, files, unit, { signal });
  return { changedFiles, action, ...(firstBoot && { firstBoot }) };
}

/** The secrets of the instance's customer; permanent errors when there is no customer or they were shredded. */
export function customerSecretsOf(deps: RemoteStepDeps, instance: InstanceRow): CustomerSecrets {
  return deps.customers.open(customerIdOf(instance));
}

function customerIdOf(instance: InstanceRow): string {
  if (instance.customerId === null) throw new PermanentError(`instance ${instance.id} has no customer`);
  return instance.customerId;
}

/** The two files Rachel8 and Claude Code read, rendered (and validated) from the customer's secrets. */
export function secretFiles(secrets: CustomerSecrets): SecretFile[] {
  return [
    { path: RACHEL8_PATHS.credentials, content: renderCredentials(secrets.claude) },
    {
      path: RACHEL8_PATHS.env,
      content: renderEnv({
        telegramBotToken: secrets.telegramBotToken,
        ownerTelegramUserId: secrets.ownerTelegramUserId,
        sharedFolderPath: `${APP_HOME}/${RACHEL8_PATHS.sharedDir}`,
        nodeEnv: "production",
        logLevel: "info",
        aiProvider: CLAUDE_AI_PROVIDER,
      }),
    },
  ];
}
