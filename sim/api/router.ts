/** Matches `/v1` requests to handlers by method and path template (e.g. `/servers/{id}`). */

export interface RouteContext {
  request: Request;
  /** Numeric path parameters by name, e.g. `{ id: 42 }`. */
  params: Record<string, number>;
  query: URLSearchParams;
}

export interface Route {
  method: string;
  /** Path template under /v1, as written in the OpenAPI file. */
  template: string;
  handle(ctx: RouteContext): Promise<Response> | Response;
}

export interface RouteMatch {
  route: Route;
  params: Record<string, number>;
}

const ID_SEGMENT = /^\d+$/;

function matchTemplate(template: string, path: string): Record<string, number> | null {
  const want = template.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return null;
  const params: Record<string, number> = {};
  for (const [i, segment] of want.entries()) {
    const actual = got[i] ?? "";
    if (segment.startsWith("{")) {
      if (!ID_SEGMENT.test(actual)) return null;
      params[segment.slice(1, -1)] = Number(actual);
    } else if (segment !== actual) return null;
  }
  return params;
}

/** The route for `method` and `path` (path without the /v1 prefix), or null when none is served. */
export function findRoute(routes: Route[], method: string, path: string): RouteMatch | null {
  for (const route of routes) {
    if (route.method !== method) continue;
    const params = matchTemplate(route.template, path);
    if (params) return { route, params };
  }
  return null;
}

/** The template a path belongs to regardless of method, for the request log of unserved methods. */
export function templateOf(routes: Route[], path: string): string {
  return routes.find((r) => matchTemplate(r.template, path) !== null)?.template ?? path;
}
