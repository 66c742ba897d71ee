/**
 * The one error type routes throw to answer 4xx/5xx. `code` is a stable snake_case identifier clients
 * may branch on; `message` is shown to the caller, so it must never carry secrets or internals.
 */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
