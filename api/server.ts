import type { Server } from "bun";
import { requestTarget } from "../core/request-target.ts";
import { createClientAddress, plainAddress } from "./client-address.ts";
import { type ApiDependencies, createRouteDependencies, type RouteDependencies } from "./dependencies.ts";
import { errorJson, errorResponse } from "./error-mapper.ts";
import { createHttpMetrics } from "./http-metrics.ts";
import { registerOperationMetrics } from "./operation-metrics.ts";
import { REQUEST_ID_HEADER, requestIdOf } from "./request-id.ts";
import { type ApiRoutes, createRouter, type Listener, type RouteContext, type RouteMatch } from "./router.ts";
import { routes as defaultRoutes } from "./routes/index.ts";

export interface ApiServerOptions extends ApiDependencies {
  /** Routes of each listener; default api/routes/index.ts. */
  routes?: ApiRoutes;
  /** Port of the private listener; default config.apiPort (tests pass 0 for a free one). */
  port?: number;
  /** Port of the public listener; default config.publicApiPort (tests pass 0 for a free one). */
  publicPort?: number;
}

/** Where an in-process request comes from, as the listening server would see it. */
export interface InProcessOrigin {
  /** Listener whose routes answer; default "private". */
  listener?: Listener;
  /** Address of the TCP peer; default none. On the public listener TRUSTED_PROXIES applies to it. */
  peer?: string | null;
}

export interface ApiServer {
  /** Base URL of the private listener (customers, ops, metrics, health), e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** Base URL of the public listener (webhooks, cloud-init callbacks, bundle downloads), e.g. http://127.0.0.1:8081 */
  readonly publicUrl: string;
  /** Handles one request in-process, as the listening server would. */
  handle(request: Request, origin?: InProcessOrigin): Promise<Response>;
  /**
   * Stops accepting connections and lets in-flight requests finish for up to `drainMs`
   * (default config.shutdownTimeoutMs), then closes what is left. Idempotent.
   */
  stop(drainMs?: number): Promise<void>;
}

/** Metric label for requests that matched no route: raw paths would explode label cardinality. */
const UNMATCHED_ROUTE = "unmatched";
/** Methods kept as metric labels; a client's invented method is counted as "other", for the same reason. */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
]);

const metricMethod = (method: string) => (KNOWN_METHODS.has(method) ? method : "other");

export function createApiServer(options: ApiServerOptions): ApiServer {
  const {
    routes = defaultRoutes,
    port = options.config.apiPort,
    publicPort = options.config.publicApiPort,
    ...deps
  } = options;
  const matchers = { public: createRouter(routes.public), private: createRouter(routes.private) };
  const clientAddress = createClientAddress(deps.config.trustedProxies);
  const httpMetrics = createHttpMetrics(deps.metrics);
  registerOperationMetrics(deps.metrics, deps.db);
  const routeDeps = createRouteDependencies(deps);

  const handle = async (request: Request, origin: InProcessOrigin = {}): Promise<Response> => {
    const { listener = "private", peer = null } = origin;
    const startedAt = performance.now();
    const requestId = requestIdOf(request);
    const log = deps.log.child({ requestId });
    const url = requestTarget(request);
    const clientIp = listener === "public" ? clientAddress(peer, request.headers) : peer;
    const matched = matchers[listener](request.method, url.pathname);
    const route = matched.kind === "found" ? matched.route.path : UNMATCHED_ROUTE;
    const response = await respond(matched, { request, url, requestId, log, clientIp }, routeDeps);
    response.headers.set(REQUEST_ID_HEADER, requestId);
    const durationMs = performance.now() - startedAt;
    httpMetrics.observe(metricMethod(request.method), route, response.status, durationMs);
    // A 500 is a bug (the mapper logged its cause); 503 and 4xx are expected answers.
    const level = response.status === 500 ? "error" : "info";
    log[level](
      { listener, method: request.method, path: url.pathname, route, status: response.status, durationMs },
      "request",
    );
    return response;
  };

  const privateServer = serve("private", deps.config.apiHost, port, handle, deps.log);
  let publicServer: Server<undefined>;
  try {
    publicServer = serve("public", deps.config.publicApiHost, publicPort, handle, deps.log);
  } catch (err) {
    void privateServer.stop(true);
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = (drainMs = deps.config.shutdownTimeoutMs) => {
    stopping ??= Promise.all([drain(publicServer, drainMs, deps), drain(privateServer, drainMs, deps)]).then(
      () => {},
    );
    return stopping;
  };
  return { url: privateServer.url.origin, publicUrl: publicServer.url.origin, handle, stop };
}

/** One listener: `handle` for its routes, an opaque JSON 500 for what escapes it. */
function serve(
  listener: Listener,
  hostname: string,
  port: number,
  handle: ApiServer["handle"],
  log: ApiDependencies["log"],
): Server<undefined> {
  return Bun.serve({
    hostname,
    port,
    // Development mode would answer a thrown error with Bun's HTML page: stack, paths and source lines.
    development: false,
    fetch: (request, self) => {
      const address = self.requestIP(request)?.address;
      return handle(request, { listener, peer: address === undefined ? null : plainAddress(address) });
    },
    // Only a bug gets here (handle maps every route error itself): opaque JSON, cause in the log.
    error: (err) => {
      const requestId = crypto.randomUUID();
      log.error({ err, requestId, listener }, "unhandled error in server");
      return errorJson(500, { code: "internal", message: "internal server error", requestId });
    },
  });
}

async function respond(
  matched: RouteMatch,
  incoming: Pick<RouteContext, "request" | "url" | "requestId" | "log" | "clientIp">,
  deps: RouteDependencies,
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
  deps.log.info({ inFlight, drainMs, url: server.url.origin }, "api draining");
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
