/** Base of every error the Hetzner client throws; `code` is Hetzner's error code or one of the client's own. */
export abstract class HetznerError extends Error {
  abstract readonly code: string;
  /** Whether the client's retry policy may repeat the request that failed this way. */
  abstract readonly retryable: boolean;
}

export interface HetznerApiErrorInit {
  code: string;
  status: number;
  message: string;
  details: unknown;
  correlationId: string | null;
  retryable: boolean;
  /** Method and path of the request, e.g. "POST /servers"; never carries credentials. */
  request: string;
}

/** Hetzner answered with an error envelope `{error:{code,message,details}}` (or a bare error status). */
export class HetznerApiError extends HetznerError {
  override readonly name = "HetznerApiError";
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  readonly correlationId: string | null;
  readonly retryable: boolean;
  readonly request: string;

  constructor(init: HetznerApiErrorInit) {
    super(`${init.request}: ${init.code} (HTTP ${init.status}): ${init.message}`);
    this.code = init.code;
    this.status = init.status;
    this.details = init.details;
    this.correlationId = init.correlationId;
    this.retryable = init.retryable;
    this.request = init.request;
  }
}

/** The connection failed or closed before a response arrived. */
export class HetznerNetworkError extends HetznerError {
  override readonly name = "HetznerNetworkError";
  readonly code = "network_error";
  readonly retryable = true;

  constructor(request: string, cause: unknown) {
    super(`${request}: network error: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** No response within the per-request timeout. */
export class HetznerTimeoutError extends HetznerError {
  override readonly name = "HetznerTimeoutError";
  readonly code = "request_timeout";
  readonly retryable = true;

  constructor(
    request: string,
    readonly timeoutMs: number,
  ) {
    super(`${request}: no response within ${timeoutMs} ms`);
  }
}

/** A response did not match the documented shape; retrying would not change it. */
export class HetznerResponseError extends HetznerError {
  override readonly name = "HetznerResponseError";
  readonly code = "invalid_response";
  readonly retryable = false;

  constructor(request: string, problem: string) {
    super(`${request}: unexpected response: ${problem}`);
  }
}

/** An action (create_server, start_server, delete_server, …) finished with status "error". */
export class HetznerActionError extends HetznerError {
  override readonly name = "HetznerActionError";
  readonly retryable = false;

  constructor(
    readonly actionId: number,
    readonly command: string,
    readonly code: string,
    detail: string,
  ) {
    super(`action ${actionId} (${command}) failed: ${code}: ${detail}`);
  }
}

export interface PendingAction {
  id: number;
  command: string;
  progress: number;
}

/** Waiting for actions outlasted its deadline; says which actions were still running. */
export class HetznerActionTimeoutError extends HetznerError {
  override readonly name = "HetznerActionTimeoutError";
  readonly code = "action_timeout";
  readonly retryable = false;

  constructor(
    readonly pending: PendingAction[],
    readonly timeoutMs: number,
  ) {
    const list = pending.map((a) => `${a.id} (${a.command}, ${a.progress}%)`).join(", ");
    super(`actions still running after ${timeoutMs} ms: ${list}`);
  }
}

/** True when `err` came from the Hetzner client and, if codes are given, carries one of them. */
export function isHetznerError(err: unknown, ...codes: string[]): err is HetznerError {
  return err instanceof HetznerError && (codes.length === 0 || codes.includes(err.code));
}
