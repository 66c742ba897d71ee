/**
 * The /v1 request pipeline: bearer token (which names the project), the project's rate-limit bucket,
 * armed faults, the project's routes, and Hetzner's error envelope; the project's `RateLimit-*` headers
 * and an `X-Correlation-Id` go on every response and each request is logged with its project.
 */
import type { FaultRegistry } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import { errorResponse, SimApiError } from "./errors.ts";
import type { TokenBucket } from "./rate-limit.ts";
import { findRoute, type Route, templateOf } from "./router.ts";

/** One Hetzner project as the API sees it: its token, its resources' routes, its request budget. */
export interface ApiProject {
  name: string;
  token: string;
  routes: Route[];
  bucket: TokenBucket;
}

export interface ApiHandlerDeps {
  projects: readonly ApiProject[];
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

function projectOf(deps: ApiHandlerDeps, request: Request): ApiProject | null {
  const authorization = request.headers.get("authorization");
  return deps.projects.find((p) => authorization === `Bearer ${p.token}`) ?? null;
}

async function dispatch(
  deps: ApiHandlerDeps,
  project: ApiProject | null,
  request: Request,
  path: string,
  template: string,
): Promise<Response | typeof DROP> {
  if (project === null) throw new SimApiError(401, "unauthorized", "unable to authenticate");
  if (!project.bucket.take())
    throw new SimApiError(429, "rate_limit_exceeded", "limit of requests per hour reached");
  const fault = deps.faults.takeRequestFault(request.method, template);
  if (fault?.kind === "drop") return DROP;
  if (fault?.kind === "error")
    throw new SimApiError(fault.status, fault.code, fault.message ?? `injected ${fault.code}`);
  const match = findRoute(project.routes, request.method, path);
  if (!match) throw new SimApiError(404, "not_found", `${request.method} ${path} is not served`);
  return match.route.handle({ request, params: match.params, query: new URL(request.url).searchParams });
}

/** Serves one request whose path has already had the /v1 prefix removed. */
export async function handleApiRequest(
  deps: ApiHandlerDeps,
  request: Request,
  path: string,
): Promise<Response> {
  const project = projectOf(deps, request);
  // Every project serves the same routes, so any one's table names the template.
  const template = templateOf((project ?? deps.projects[0])?.routes ?? [], path);
  let response: Response | typeof DROP;
  try {
    response = await dispatch(deps, project, request, path, template);
  } catch (err) {
    const apiError =
      err instanceof SimApiError ? err : new SimApiError(500, "server_error", "internal simulator error");
    if (!(err instanceof SimApiError)) console.error("simulator handler failed", err);
    response = errorResponse(apiError);
  }
  const status = response === DROP ? 0 : response.status;
  const projectName = project?.name ?? null;
  deps.log.record({ method: request.method, path: template, status, project: projectName, at: deps.now() });
  if (response === DROP) return droppedConnection();
  // Hetzner tags every response with a correlation id that support can trace; clients put it in errors.
  // Every response carries the headers; a request no project accepted shows the default project's budget.
  const budget = (project ?? deps.projects[0])?.bucket.headers() ?? {};
  return withHeaders(response, { ...budget, "X-Correlation-Id": crypto.randomUUID() });
}
