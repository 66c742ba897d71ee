import type { Server } from "bun";
import { requestTarget } from "../core/request-target.ts";
import type { ApiDependencies } from "./dependencies.ts";
import { errorJson, errorResponse } from "./error-mapper.ts";
import { createHttpMetrics } from "./http-metrics.ts";
import { registerOperationMetrics } from "./operation-metrics.ts";
import { REQUEST_ID_HEADER, requestIdOf } from "./request-id.ts";
import { createRouter, type Route, type RouteContext, type RouteMatch } from "./router.ts";
import { routes as defaultRoutes } from "./routes/index.ts";

export interface ApiServerOptions extends ApiDependencies {
  /** Routes to serve; default every route in api/routes/index.ts. */
  routes?: readonly Route[];
  /** Port to listen on; default config.apiPort (tests pass 0 for a free one). */
  port?: number;
}

export interface ApiServer {
  /** Base URL the server listens on, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** Handles one request in-process, as the listening server would for a peer at `clientIp` (default none). */
  handle(request: Request, clientIp?: string | null): Promise<Response>;
  /**
   * Stops accepting connections and lets in-flight requests finish for up to `drainMs`
   * (default config.shutdownTimeoutMs), then closes what is left. Idempotent.
   */
  stop(drainMs?: number): Promise<void>;
}

/** Metric label for requests that matched no route: raw paths would explode label cardinality. */
const UNMATCHED_ROUTE = "unmatched";
/** Methods kept as metric labels; a client's invented method is counted as "other", for the same reason. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

const metricMethod = (method: string) => (KNOWN_METHODS.has(method) ? method : "other");

export function createApiServer(options: ApiServerOptions): ApiServer {
  const { routes = defaultRoutes, port = options.config.apiPort, ...deps } = options;
  const match = createRouter(routes);
  const httpMetrics = createHttpMetrics(deps.metrics);
  registerOperationMetrics(deps.metrics, deps.db);

  const handle = async (request: Request, clientIp: string | null = null): Promise<Response> => {
    const startedAt = performance.now();
    const requestId = requestIdOf(request);
    const log = deps.log.child({ requestId });
    const url = requestTarget(request);
    const { pathname } = url;
    const matched = match(request.method, pathname);
    const route = matched.kind === "found" ? matched.route.path : UNMATCHED_ROUTE;
    const response = await respond(matched, { request, url, requestId, log, clientIp }, deps);
    response.headers.set(REQUEST_ID_HEADER, requestId);
    const durationMs = performance.now() - startedAt;
    httpMetrics.observe(metricMethod(request.method), route, response.status, durationMs);
    // A 500 is a bug (the mapper logged its cause); 503 and 4xx are expected answers.
    const level = response.status === 500 ? "error" : "info";
    log[level](
      { method: request.method, path: pathname, route, status: response.status, durationMs },
      "request",
    );
    return response;
  };

  const server: Server<undefined> = Bun.serve({
    hostname: deps.config.apiHost,
    port,
    // Development mode would answer a thrown error with Bun's HTML page: stack, paths and source lines.
    development: false,
    fetch: (request, self) => handle(request, peerAddress(self.requestIP(request)?.address)),
    // Only a bug gets here (handle maps every route error itself): opaque JSON, cause in the log.
    error: (err) => {
      const requestId = crypto.randomUUID();
      deps.log.error({ err, requestId }, "unhandled error in server");
      return errorJson(500, { code: "internal", message: "internal server error", requestId });
    },
  });
  let stopping: Promise<void> | undefined;
  const stop = (drainMs = deps.config.shutdownTimeoutMs) => {
    stopping ??= drain(server, drainMs, deps);
    return stopping;
  };
  return { url: server.url.origin, handle, stop };
}

/** An IPv4 peer on a dual-stack socket shows as "::ffff:a.b.c.d"; routes compare plain addresses. */
function peerAddress(address: string | undefined): string | null {
  if (address === undefined) return null;
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

async function respond(
  matched: RouteMatch,
  incoming: Pick<RouteContext, "request" | "url" | "requestId" | "log" | "clientIp">,
  deps: ApiDependencies,
): Promise<Response> {
  const { requestId, log } = incoming;
  if (matched.kind === "not_found") {
    return errorJson(404, { code: "not_found", message: "no such route", requestId });
  }
  if (matched.kind === "method_not_allowed") {
    const response = errorJson(405, { code: "method_not_allowed", message: "method not allowed", requestId });
    response.headers.set("allow", matched.allowed.join(", "));
    return response;
  }
  try {
    return await matched.route.handle({ ...incoming, params: matched.params, deps });
  } catch (err) {
    return errorResponse(err, requestId, log);
  }
}

/** Graceful stop: no new connections, in-flight requests get `drainMs`, stragglers are then cut. */
async function drain(server: Server<undefined>, drainMs: number, deps: ApiDependencies): Promise<void> {
  const inFlight = server.pendingRequests;
  deps.log.info({ inFlight, drainMs }, "api draining");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), drainMs);
  });
  const outcome = await Promise.race([server.stop(false).then(() => "drained" as const), timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    deps.log.warn({ abandoned: server.pendingRequests }, "drain timed out; closing remaining connections");
    await server.stop(true);
  }
}
