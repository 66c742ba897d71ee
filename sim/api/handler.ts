/**
 * The /v1 request pipeline: bearer token, rate-limit bucket, armed faults, routing, and Hetzner's
 * error envelope; `RateLimit-*` and `X-Correlation-Id` headers go on every response and each request is logged.
 */
import type { FaultRegistry } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import { errorResponse, SimApiError } from "./errors.ts";
import type { TokenBucket } from "./rate-limit.ts";
import { findRoute, type Route, templateOf } from "./router.ts";

export interface ApiHandlerDeps {
  token: string;
  routes: Route[];
  bucket: TokenBucket;
  faults: FaultRegistry;
  log: RequestLog;
  now: () => number;
}

/** A response whose body fails before any byte is sent, so the client sees the connection drop. */
function droppedConnection(): Response {
  return new Response(
    new ReadableStream({
      start(controller) {
        controller.error();
      },
    }),
  );
}

function withHeaders(response: Response, headers: Record<string, string>): Response {
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

/** Marks a request whose connection a `drop` fault closes; logged with status 0. */
const DROP = Symbol("drop");

async function dispatch(
  deps: ApiHandlerDeps,
  request: Request,
  path: string,
  template: string,
): Promise<Response | typeof DROP> {
  if (request.headers.get("authorization") !== `Bearer ${deps.token}`)
    throw new SimApiError(401, "unauthorized", "unable to authenticate");
  if (!deps.bucket.take())
    throw new SimApiError(429, "rate_limit_exceeded", "limit of requests per hour reached");
  const fault = deps.faults.takeRequestFault(request.method, template);
  if (fault?.kind === "drop") return DROP;
  if (fault?.kind === "error")
    throw new SimApiError(fault.status, fault.code, fault.message ?? `injected ${fault.code}`);
  const match = findRoute(deps.routes, request.method, path);
  if (!match) throw new SimApiError(404, "not_found", `${request.method} ${path} is not served`);
  return match.route.handle({ request, params: match.params, query: new URL(request.url).searchParams });
}

/** Serves one request whose path has already had the /v1 prefix removed. */
export async function handleApiRequest(
  deps: ApiHandlerDeps,
  request: Request,
  path: string,
): Promise<Response> {
  const template = templateOf(deps.routes, path);
  let response: Response | typeof DROP;
  try {
    response = await dispatch(deps, request, path, template);
  } catch (err) {
    const apiError =
      err instanceof SimApiError ? err : new SimApiError(500, "server_error", "internal simulator error");
    if (!(err instanceof SimApiError)) console.error("simulator handler failed", err);
    response = errorResponse(apiError);
  }
  const status = response === DROP ? 0 : response.status;
  deps.log.record({ method: request.method, path: template, status, at: deps.now() });
  if (response === DROP) return droppedConnection();
  // Hetzner tags every response with a correlation id that support can trace; clients put it in errors.
  return withHeaders(response, { ...deps.bucket.headers(), "X-Correlation-Id": crypto.randomUUID() });
}
