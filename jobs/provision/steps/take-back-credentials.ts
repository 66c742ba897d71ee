/**
 * Before a server that holds Claude credentials is deleted so that another can replace it (a provision's
 * rollback, after which a re-run boots a new one), its Claude Code may have refreshed them, spending the
 * refresh token we stored. So the machine's current credentials are fetched back over the pinned session
 * and stored, sealed, for the replacement. When the machine cannot be reached, the stored ones stay marked
 * as delivered to it, and the next delivery reports "needs re-login" (claude-delivery.ts).
 * Best effort and bounded: it never keeps the server from being deleted.
 */
import type { Logger } from "../../../core/log.ts";
import { RACHEL8_PATHS } from "../../../domain/rachel8.ts";
import { readClaudeCredentials } from "../../../remote/claude-login.ts";
import { connectToServer, type RemoteStepDeps } from "../../shared/connect-server.ts";
import { loadInstance } from "../../shared/instance-row.ts";
import type { AwaitCloudInitOutput } from "./await-cloud-init.ts";

/** Bound of the whole fetch (connect included), in ms: a dead machine must not hold up the rollback. */
const TAKE_BACK_TIMEOUT_MS = 20_000;

export type TakeBackOutcome =
  /** No credentials of ours on that server (never delivered), so nothing to take back. */
  | "nothing-delivered"
  /** Stored: as a new version when the machine had rotated them. */
  | "taken-back"
  /** The customer has sent newer credentials meanwhile, or was shredded: the machine's are not wanted. */
  | "superseded"
  /** Unreachable, or no valid credentials file: the replacement may need a re-login. */
  | "unavailable";

export async function takeBackClaudeCredentials(
  deps: RemoteStepDeps,
  instanceId: string,
  callback: AwaitCloudInitOutput | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<TakeBackOutcome> {
  const row = loadInstance(deps.db, instanceId);
  const version = row.claudeCredentialsVersion;
  if (version === null || row.customerId === null || row.hetznerServerId === null) return "nothing-delivered";
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(TAKE_BACK_TIMEOUT_MS)]);
  try {
    const session = await connectToServer(deps, row, callback, bounded);
    try {
      const claude = await readClaudeCredentials(session, RACHEL8_PATHS.credentials, bounded);
      const taken = deps.customers.takeBackClaude(row.customerId, version, claude);
      return taken ? "taken-back" : "superseded";
    } finally {
      await session.close();
    }
  } catch (err) {
    if (signal.aborted) throw err;
    const why = err instanceof Error ? err.message : String(err);
    log.warn(
      { instanceId, serverId: row.hetznerServerId, needsRelogin: true },
      `needs re-login: could not fetch the Claude credentials back from server ${row.hetznerServerId} before deleting it (${why})`,
    );
    return "unavailable";
  }
}
