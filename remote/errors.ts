/** Typed failures of talking to a customer machine over SSH; no message ever carries a secret. */
import { JobError } from "../jobs/errors.ts";

/**
 * Stable codes. Retryable (a later attempt may succeed): connection_refused, connect_timeout,
 * connection_lost, exec_timeout. Permanent: host_key_mismatch, handshake_failed, auth_failed,
 * invalid_host_key, invalid_request, inject_failed, unit_not_active, first_boot_failed, and the three ways
 * the bot cannot think: cli_missing, not_logged_in, login_expired_no_refresh (and login_check_failed, when
 * the check itself broke).
 */
export type RemoteErrorCode =
  | "host_key_mismatch"
  | "invalid_host_key"
  | "handshake_failed"
  | "connection_refused"
  | "connect_timeout"
  | "connection_lost"
  | "auth_failed"
  | "exec_timeout"
  | "invalid_request"
  | "inject_failed"
  | "unit_not_active"
  | "first_boot_failed"
  | "cli_missing"
  | "not_logged_in"
  | "login_expired_no_refresh"
  | "login_check_failed";

const RETRYABLE: ReadonlySet<RemoteErrorCode> = new Set([
  "connection_refused",
  "connect_timeout",
  "connection_lost",
  "exec_timeout",
]);

export class RemoteError extends JobError {
  declare readonly code: RemoteErrorCode;
  /** True when the same call may succeed later (network trouble), false when it never will as asked. */
  readonly retryable: boolean;

  constructor(code: RemoteErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.retryable = RETRYABLE.has(code);
  }
}

/** The server proved a host key other than the pinned one; refused before authentication, nothing sent. */
export class HostKeyMismatchError extends RemoteError {
  constructor(
    readonly host: string,
    readonly port: number,
    /** SHA256 fingerprint (OpenSSH style) of the key we expected. */
    readonly expectedFingerprint: string,
    /** SHA256 fingerprint of the key the server presented, or null when it offered no ssh-ed25519 key. */
    readonly presentedFingerprint: string | null,
  ) {
    const presented = presentedFingerprint ?? "no ssh-ed25519 host key";
    super(
      "host_key_mismatch",
      `host key of ${host}:${port} is ${presented}, expected ${expectedFingerprint}: refused before authentication`,
    );
  }
}

/** The unit was not `active` at some check during the settle period. */
export class UnitNotActiveError extends RemoteError {
  constructor(
    readonly unit: string,
    /** What `systemctl is-active` printed, e.g. "activating", "failed", "inactive". */
    readonly state: string,
    /** The unit's last journal lines, secrets scrubbed. */
    readonly journal: readonly string[],
  ) {
    const tail = journal.length > 0 ? `; last journal lines:\n${journal.join("\n")}` : "";
    super("unit_not_active", `unit ${unit} is ${state}, not active${tail}`);
  }
}

export function isRemoteError(err: unknown, ...codes: RemoteErrorCode[]): err is RemoteError {
  return err instanceof RemoteError && (codes.length === 0 || codes.includes(err.code));
}
