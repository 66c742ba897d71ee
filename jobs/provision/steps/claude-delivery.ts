/**
 * Claude credentials belong to the machine after their first delivery: Claude Code refreshes its OAuth
 * tokens itself and writes them back to ~/.claude/.credentials.json, and refresh tokens rotate, so
 * rewriting that file from the tokens stored at registration could log a running bot out. An injection
 * therefore writes the file only when the server has none of ours yet or the customer has sent newer
 * credentials since (a higher customers.claude_credentials_version), and records what it wrote.
 */
import type { Logger } from "../../../core/log.ts";
import type { ClaudeCredentialsState } from "../../../domain/customers.ts";
import type { RemoteStepDeps } from "../../shared/connect-server.ts";
import { type InstanceRow, updateInstance } from "../../shared/instance-row.ts";

export interface ClaudeDeliveryPlan {
  /** Whether this injection writes the credentials file. */
  write: boolean;
  /** The stored version it delivers (when `write`). */
  version: number;
  /**
   * Set when the stored version already went to another server, whose Claude Code may have rotated the
   * tokens since (and was not asked for them before it went): the bot's owner may have to log in again.
   */
  reloginReason: string | null;
}

/** Pure: what an injection into `instance`'s server does about the credentials file. */
export function planClaudeDelivery(instance: InstanceRow, state: ClaudeCredentialsState): ClaudeDeliveryPlan {
  const delivered = instance.claudeCredentialsVersion;
  const write = delivered === null || delivered < state.version;
  const elsewhere = state.deliveredToServerId;
  const reloginReason =
    write && elsewhere !== null && elsewhere !== instance.hetznerServerId
      ? `the stored Claude credentials (version ${state.version}) were delivered to server ${elsewhere} before and ` +
        "may have been rotated there since; the bot's owner may need to log in to Claude again"
      : null;
  return { write, version: state.version, reloginReason };
}

/** After a successful injection: the instance and the customer record which version the server holds. */
export function recordClaudeDelivery(
  deps: Pick<RemoteStepDeps, "db" | "customers">,
  instance: InstanceRow,
  plan: ClaudeDeliveryPlan,
  log: Logger,
  now: number,
): void {
  if (!plan.write || instance.customerId === null || instance.hetznerServerId === null) return;
  updateInstance(
    deps.db,
    instance.id,
    { claudeCredentialsVersion: plan.version, claudeReloginReason: plan.reloginReason },
    now,
  );
  deps.customers.recordClaudeDelivery(instance.customerId, plan.version, instance.hetznerServerId);
  if (plan.reloginReason !== null) {
    log.warn({ instanceId: instance.id, needsRelogin: true }, `needs re-login: ${plan.reloginReason}`);
  }
}
