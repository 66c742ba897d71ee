/** Bearer-token access for service-to-service and operator routes. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ErrorBody } from "./error-mapper.ts";

/** The token of an `Authorization: Bearer <token>` header; "" when there is none. */
export function presentedBearerToken(request: Request): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  return match?.[1] ?? "";
}

/** Constant-time: both sides are hashed to one length first, so neither length nor prefix leaks. */
export function presentsBearerToken(request: Request, expected: string): boolean {
  const presented = presentedBearerToken(request);
  return presented !== "" && timingSafeEqual(sha256(presented), sha256(expected));
}

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** The 401 answer, with the challenge a client needs to know which scheme to use. */
export function unauthorized(requestId: string): Response {
  const body: ErrorBody = { code: "unauthorized", message: "missing or wrong bearer token", requestId };
  return Response.json(body, { status: 401, headers: { "www-authenticate": "Bearer" } });
}
