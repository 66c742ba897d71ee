import { isMigrated } from "../../db/index.ts";
import { HttpError } from "../http-error.ts";
import type { Route } from "../router.ts";

/** Readiness: the database schema is current and the broker answers; 503 names what is missing. */
export const readyzRoute: Route = {
  method: "GET",
  path: "/readyz",
  handle: async ({ deps }) => {
    const problems: string[] = [];
    if (!isMigrated(deps.db)) problems.push("database is not migrated");
    if (!(await deps.queue.ping())) problems.push("broker is unreachable");
    if (problems.length > 0) throw new HttpError(503, "not_ready", problems.join("; "));
    return Response.json({ status: "ready" });
  },
};
