/**
 * The request's path and query, read without trusting its Host header. Bun builds `request.url` from
 * Host, so a malformed Host (or HTTP/1.0 without one) leaves a URL that `new URL` cannot parse; routing
 * never needs the host, so the target is read on a fixed origin instead.
 */

/** Stands in for the caller's Host; `.invalid` is reserved and never resolves (RFC 6761). */
const FIXED_ORIGIN = "http://request.invalid";

/** `request.url`'s path and query on a fixed origin; never throws (an unreadable target reads as "/"). */
export function requestTarget(request: Request): URL {
  // The authority runs to the first "/" after the scheme; whatever Host held, the path starts there.
  const pathAndQuery = request.url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/, "");
  // Appended, not resolved: "//x" must stay a path, not become a host.
  const path = pathAndQuery.startsWith("/") ? pathAndQuery : `/${pathAndQuery}`;
  return URL.parse(`${FIXED_ORIGIN}${path}`) ?? new URL(FIXED_ORIGIN);
}
