/** Small helpers for simulator tests: an authenticated JSON caller and a bounded condition wait. */
import type { Simulator } from "../../sim/index.ts";

export interface ApiReply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test code reads response fields freely after status checks.
  body: any;
}

/** Calls the simulator's /v1 API with its token; `path` is relative to /v1 and may carry a query. */
export async function call(
  sim: Simulator,
  method: string,
  path: string,
  body?: unknown,
  token = sim.token,
): Promise<ApiReply> {
  const response = await fetch(`${sim.endpoint}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === "" ? null : JSON.parse(text) };
}

/** Polls `check` until it returns a value other than undefined, failing after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** A valid create body; `extra` overrides fields. */
export function serverBody(name: string, extra: Record<string, unknown> = {}) {
  return { name, server_type: "cx23", image: "ubuntu-24.04", location: "nbg1", ...extra };
}

/** Waits until the server's status is `status` (GET /servers/{id}, in the project `token` opens). */
export function waitForStatus(sim: Simulator, id: number, status: string, token = sim.token): Promise<true> {
  return waitFor(`server ${id} to be ${status}`, async () => {
    const reply = await call(sim, "GET", `/servers/${id}`, undefined, token);
    return reply.body?.server?.status === status ? true : undefined;
  });
}

/** Waits until GET /servers/{id} answers 404 (in the project `token` opens). */
export function waitForGone(sim: Simulator, id: number, token = sim.token): Promise<true> {
  return waitFor(`server ${id} to disappear`, async () =>
    (await call(sim, "GET", `/servers/${id}`, undefined, token)).status === 404 ? true : undefined,
  );
}
