import { SQLiteError } from "bun:sqlite";
import type { Logger } from "../core/log.ts";
import { HttpError } from "./http-error.ts";

/** Body of every 4xx/5xx answer. */
export interface ErrorBody {
  code: string;
  message: string;
  requestId: string;
}

/**
 * Turns anything a route threw into the JSON error answer. An HttpError is shown as is; a database
 * failure (busy, locked, disk) is a 503 the caller may retry; anything else is logged with its stack and
 * answered as an opaque 500, so internals never reach the caller.
 */
export function errorResponse(err: unknown, requestId: string, log: Logger): Response {
  if (err instanceof HttpError) {
    return errorJson(err.status, { code: err.code, message: err.message, requestId });
  }
  if (err instanceof SQLiteError) {
    log.error({ err, requestId }, "database write failed");
    return errorJson(503, { code: "unavailable", message: "database unavailable; try again", requestId });
  }
  log.error({ err, requestId }, "unhandled error in route");
  return errorJson(500, { code: "internal", message: "internal server error", requestId });
}

export function errorJson(status: number, body: ErrorBody): Response {
  return Response.json(body, { status });
}
