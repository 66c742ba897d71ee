/** A caller's id is kept only if it is short and plain, so it is safe in logs and response headers. */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = "x-request-id";

/** The caller's X-Request-Id when acceptable, else a fresh UUID. */
export function requestIdOf(request: Request): string {
  const incoming = request.headers.get(REQUEST_ID_HEADER);
  return incoming !== null && ACCEPTED_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}
