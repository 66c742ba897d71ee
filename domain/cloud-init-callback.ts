/**
 * cloud-init's phone_home from a new server, carrying the host key SSH will pin (POST
 * /v1/cloud-init/{instanceId}/ready). phone_home is unauthenticated, so a report counts only with the
 * instance's callback token, only from the server's own IPv4 once known, and only once; an unknown
 * instance is refused exactly as a wrong token is, so no caller learns which exist. The report is stored,
 * then the waiting provision is signalled.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { Logger } from "../core/log.ts";
import type { Sealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { instances } from "../db/schema.ts";
import { errorCodeOf, JobError } from "../jobs/errors.ts";
import { CLOUD_INIT_READY_SIGNAL, verifyCallbackToken } from "../jobs/provision/callback-token.ts";
import type { JobQueue } from "../queue/queue.ts";
import { findPendingSignal } from "../queue/signals.ts";

export interface CloudInitCallbackDeps {
  db: Db;
  queue: JobQueue;
  sealer: Sealer;
  /** Clock, in epoch ms. */
  now: () => number;
}

/** Who reports: the instance named in the URL, the token it presented, and the address it came from. */
export interface CallbackCaller {
  instanceId: string;
  token: string;
  /** The caller's address (null: in-process, none named). */
  clientIp: string | null;
}

/** `accepted`: this report was stored and signalled; `already_received`: an earlier one was. */
export type CallbackOutcome = "accepted" | "already_received";

/** The caller may not report for this instance; `code` says why, the message is safe to show. */
export class CallbackRefusedError extends JobError {
  constructor(code: "invalid_token" | "wrong_origin", message: string) {
    super(code, message);
  }
}

/** The report could not be recorded; nothing of it is kept, so phone_home's next try starts afresh. */
export class CallbackNotRecordedError extends JobError {
  constructor(instanceId: string, cause: unknown) {
    super("unavailable", `the cloud-init callback of ${instanceId} was not recorded`, { cause });
  }
}

export interface CloudInitCallbacks {
  /**
   * Checks the caller, then stores and signals its report. `readHostKey` (the report's `ssh-ed25519 AAAA…`
   * line) is called only for an admitted caller's first report, so an unchecked body is never read. Throws
   * CallbackRefusedError, CallbackNotRecordedError, or what `readHostKey` throws.
   */
  receive(caller: CallbackCaller, readHostKey: () => Promise<string>, log: Logger): Promise<CallbackOutcome>;
}

export function createCloudInitCallbacks(deps: CloudInitCallbackDeps): CloudInitCallbacks {
  return {
    async receive(caller, readHostKey, log) {
      const { db } = deps;
      const instance = db
        .select({
          ipv4: instances.ipv4,
          callbackReceivedAt: instances.callbackReceivedAt,
          reportedHostKey: instances.reportedHostKey,
        })
        .from(instances)
        .where(eq(instances.id, caller.instanceId))
        .get();
      if (!instance) throw invalidToken();
      checkCaller(deps, caller, instance.ipv4, log);
      if (instance.callbackReceivedAt !== null) {
        await rewakeAfterRepeat(
          deps,
          caller.instanceId,
          instance.callbackReceivedAt,
          instance.reportedHostKey,
          log,
        );
        return "already_received";
      }
      return accept(deps, caller.instanceId, await readHostKey(), log);
    },
  };
}

/** Refused unless the token is right and the report comes from the server's own address (when known). */
function checkCaller(
  deps: CloudInitCallbackDeps,
  caller: CallbackCaller,
  serverIp: string | null,
  log: Logger,
): void {
  const { instanceId, token, clientIp } = caller;
  if (!verifyCallbackToken(deps.db, deps.sealer, instanceId, token)) throw invalidToken();
  if (serverIp !== null && clientIp !== serverIp) {
    log.warn({ instanceId, clientIp, serverIp }, "cloud-init callback from a foreign address");
    throw new CallbackRefusedError("wrong_origin", "callback must come from the server's own address");
  }
}

const invalidToken = () => new CallbackRefusedError("invalid_token", "missing or wrong callback token");

/**
 * Stores the report, then signals the waiting job. The signal is recorded in the database before the
 * broker is asked to wake the job, so a broker outage only delays the job; when the signal could not be
 * recorded the report is undone, so phone_home's next try is not taken for a repeat.
 */
async function accept(
  deps: CloudInitCallbackDeps,
  instanceId: string,
  hostKey: string,
  log: Logger,
): Promise<CallbackOutcome> {
  const { db, queue } = deps;
  const receivedAt = deps.now();
  const stored = db
    .update(instances)
    .set({ reportedHostKey: hostKey, callbackReceivedAt: receivedAt, updatedAt: receivedAt })
    .where(and(eq(instances.id, instanceId), isNull(instances.callbackReceivedAt)))
    .returning({ id: instances.id })
    .all();
  // A concurrent duplicate got there first: it stored and signalled.
  if (stored.length === 0) return "already_received";
  try {
    await queue.signal(instanceId, CLOUD_INIT_READY_SIGNAL, { hostKey });
  } catch (err) {
    if (findPendingSignal(db, instanceId, CLOUD_INIT_READY_SIGNAL, receivedAt) === undefined) {
      forgetReport(db, instanceId, receivedAt);
      throw new CallbackNotRecordedError(instanceId, err);
    }
    // The job finds the stored signal by its own deadline at the latest.
    log.warn({ instanceId, errorCode: errorCodeOf(err) }, "cloud-init signal stored; waking the job failed");
  }
  log.info({ instanceId }, "cloud-init callback accepted");
  return "accepted";
}

/**
 * phone_home tries again when the first answer was lost, e.g. the API died between storing the report and
 * signalling: the signal is recorded now if it never was, and the waiting job woken, so it does not sleep
 * until its deadline. Nothing is recorded twice.
 */
async function rewakeAfterRepeat(
  deps: CloudInitCallbackDeps,
  instanceId: string,
  receivedAt: number,
  hostKey: string | null,
  log: Logger,
): Promise<void> {
  if (hostKey === null) return;
  try {
    await deps.queue.signal(
      instanceId,
      CLOUD_INIT_READY_SIGNAL,
      { hostKey },
      { unlessRecordedSince: receivedAt },
    );
  } catch (err) {
    // The stored report stays; the job finds a recorded signal by its own deadline at the latest.
    log.warn(
      { instanceId, errorCode: errorCodeOf(err) },
      "repeated cloud-init callback: waking the job failed",
    );
  }
}

/** Undoes this report so the next phone_home try is not taken for a repeat. */
function forgetReport(db: Db, instanceId: string, receivedAt: number): void {
  db.update(instances)
    .set({ reportedHostKey: null, callbackReceivedAt: null })
    .where(and(eq(instances.id, instanceId), eq(instances.callbackReceivedAt, receivedAt)))
    .run();
}
