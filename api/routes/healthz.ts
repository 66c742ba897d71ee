import type { Route } from "../router.ts";

/** Liveness: the process is up and its event loop answers. Checks nothing else on purpose. */
export const healthzRoute: Route = {
  method: "GET",
  path: "/healthz",
  handle: () => Response.json({ status: "ok" }),
};
