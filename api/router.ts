import type { Logger } from "../core/log.ts";
import type { RouteDependencies } from "./dependencies.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** A route for every method: its handler answers each one itself (the bundle download's uniform 404). */
export const ANY_METHOD = "*";

/** What a route handler receives. */
export interface RouteContext {
  request: Request;
  /** The request's path and query on a fixed origin (core/request-target.ts): the Host header is never trusted. */
  url: URL;
  /** Values of the template's `:name` segments, URI-decoded. */
  params: Readonly<Record<string, string>>;
  requestId: string;
  /** Child logger already bound to this request id. */
  log: Logger;
  /**
   * Address of the caller: the TCP peer's, or on the public listener the one a trusted proxy forwarded
   * (api/client-address.ts); null for in-process requests that name none.
   */
  clientIp: string | null;
  deps: RouteDependencies;
}

/** One route = one file under api/routes/, listed in api/routes/index.ts. */
export interface Route {
  method: HttpMethod | typeof ANY_METHOD;
  /** Path template, e.g. `/instances/:instanceId/signals/:name`; also the metrics label. */
  path: string;
  handle(ctx: RouteContext): Response | Promise<Response>;
}

/** The API's two listeners: `public` faces the internet (behind a TLS proxy), `private` stays on loopback. */
export type Listener = "public" | "private";

/** The routes of each listener; a route is served by exactly one. */
export type ApiRoutes = Readonly<Record<Listener, readonly Route[]>>;

export type RouteMatch =
  | { kind: "found"; route: Route; params: Record<string, string> }
  | { kind: "method_not_allowed"; allowed: HttpMethod[] }
  | { kind: "not_found" };

interface CompiledRoute {
  route: Route;
  segments: string[];
}

/** Matches a request's method and path against route templates (exact segments or `:param`). */
export function createRouter(routes: readonly Route[]): (method: string, pathname: string) => RouteMatch {
  const compiled: CompiledRoute[] = routes.map((route) => ({ route, segments: splitPath(route.path) }));
  return (method, pathname) => {
    const segments = splitPath(pathname);
    const allowed: HttpMethod[] = [];
    for (const candidate of compiled) {
      const params = matchSegments(candidate.segments, segments);
      if (!params) continue;
      if (candidate.route.method === method || candidate.route.method === ANY_METHOD)
        return { kind: "found", route: candidate.route, params };
      allowed.push(candidate.route.method);
    }
    return allowed.length > 0 ? { kind: "method_not_allowed", allowed } : { kind: "not_found" };
  };
}

function splitPath(path: string): string[] {
  return path.split("/").filter((segment) => segment.length > 0);
}

function matchSegments(template: string[], actual: string[]): Record<string, string> | undefined {
  if (template.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, expected] of template.entries()) {
    const value = actual[index] ?? "";
    if (expected.startsWith(":")) {
      const decoded = decodeSegment(value);
      if (decoded === undefined) return undefined;
      params[expected.slice(1)] = decoded;
    } else if (expected !== value) {
      return undefined;
    }
  }
  return params;
}

/** A malformed %-escape cannot name anything, so it simply does not match. */
function decodeSegment(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
}
