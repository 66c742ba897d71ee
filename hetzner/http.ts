import type { z } from "zod";
import {
  HetznerApiError,
  HetznerNetworkError,
  HetznerResponseError,
  HetznerTimeoutError,
  isHetznerError,
} from "./errors.ts";
import type { RateLimitBudget, RateLimitPermit } from "./rate-limit.ts";
import { isTransientApiFailure, type RequestRetryPolicy, withRetry } from "./retry.ts";
import { errorResponseSchema } from "./schemas.ts";

/** The subset of a pino logger the client writes to; lines never carry the token. */
export interface HetznerLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** One HTTP attempt as metrics see it; no path, whose raw ids would make every server its own series. */
export interface HetznerRequestEvent {
  method: HetznerRequest<unknown>["method"];
  /** HTTP status, or null when no response arrived (network error, timeout, abort). */
  status: number | null;
  /** "ok" for a 2xx, else the error code (e.g. rate_limit_exceeded, not_found, network_error). */
  outcome: string;
  durationMs: number;
}

export interface HttpSettings {
  /** API base including /v1, without a trailing slash. */
  endpoint: string;
  token: string;
  budget: RateLimitBudget;
  /** Per-attempt limit on the HTTP exchange, in ms. */
  requestTimeoutMs: number;
  retry: RequestRetryPolicy;
  log: HetznerLogger | undefined;
  /** Called after every HTTP attempt (retries included); for metrics. */
  onRequest: ((event: HetznerRequestEvent) => void) | undefined;
}

export type QueryValue = string | number | boolean | readonly (string | number)[] | undefined;

export interface HetznerRequest<T> {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path below the endpoint, e.g. `/servers/42`. */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Validates the success body; a bodiless response (204) is parsed as `undefined`. */
  schema: z.ZodType<T>;
  signal?: AbortSignal;
}

/** Sends one logical request: paced by the budget, retried per the retry policy, validated by its schema. */
export type HetznerHttp = <T>(request: HetznerRequest<T>) => Promise<T>;

export function createHetznerHttp(settings: HttpSettings): HetznerHttp {
  return <T>(request: HetznerRequest<T>) => {
    const label = `${request.method} ${request.path}`;
    return withRetry(
      () => sendOnce(settings, request, label),
      settings.retry,
      request.signal,
      (err, failed) =>
        settings.log?.warn(
          { request: label, code: err.code, failedAttempts: failed },
          "hetzner request retried",
        ),
    );
  };
}

async function sendOnce<T>(settings: HttpSettings, request: HetznerRequest<T>, label: string): Promise<T> {
  const queued = performance.now();
  const permit = await settings.budget.acquire(request.signal);
  const started = performance.now();
  const waitedMs = Math.round(started - queued);
  let status: number | null = null;
  let code: string | null = null;
  try {
    const response = await exchange(settings, request, label, permit);
    status = response.status;
    return parseResponse(response, request.schema, label);
  } catch (err) {
    code = isHetznerError(err) ? err.code : "aborted";
    throw err;
  } finally {
    const durationMs = Math.round(performance.now() - started);
    const remaining = settings.budget.remaining();
    settings.log?.debug({ request: label, status, code, waitedMs, durationMs, remaining }, "hetzner request");
    settings.onRequest?.({ method: request.method, status, outcome: code ?? "ok", durationMs });
  }
}

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** One HTTP exchange under a per-attempt timeout joined with the caller's signal; settles the permit. */
async function exchange<T>(
  settings: HttpSettings,
  request: HetznerRequest<T>,
  label: string,
  permit: RateLimitPermit,
): Promise<RawResponse> {
  const timeout = AbortSignal.timeout(settings.requestTimeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  try {
    const response = await fetch(buildUrl(settings.endpoint, request), {
      method: request.method,
      headers: {
        Authorization: `Bearer ${settings.token}`,
        Accept: "application/json",
        ...(request.body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal,
    });
    const text = await response.text();
    permit.settle({ status: response.status, headers: response.headers });
    return { status: response.status, headers: response.headers, text };
  } catch (err) {
    permit.settle(null);
    if (request.signal?.aborted) throw request.signal.reason;
    if (timeout.aborted) throw new HetznerTimeoutError(label, settings.requestTimeoutMs);
    throw new HetznerNetworkError(label, err);
  }
}

function buildUrl(endpoint: string, request: HetznerRequest<unknown>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
  }
  const query = params.size > 0 ? `?${params}` : "";
  return `${endpoint}${request.path}${query}`;
}

function parseResponse<T>(response: RawResponse, schema: z.ZodType<T>, label: string): T {
  if (response.status >= 400) throw toApiError(response, label);
  let body: unknown;
  try {
    body = response.text === "" ? undefined : JSON.parse(response.text);
  } catch {
    throw new HetznerResponseError(label, `HTTP ${response.status} body is not JSON`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new HetznerResponseError(label, issues.slice(0, 5).join("; "));
  }
  return parsed.data;
}

/** Maps an error status to the one typed error; gateways may answer without Hetzner's envelope. */
function toApiError(response: RawResponse, label: string): HetznerApiError {
  const envelope = errorResponseSchema.safeParse(safeJson(response.text));
  const code = envelope.success ? envelope.data.error.code : fallbackCode(response.status);
  return new HetznerApiError({
    code,
    status: response.status,
    message: envelope.success ? envelope.data.error.message : `HTTP ${response.status}`,
    details: envelope.success ? (envelope.data.error.details ?? null) : null,
    correlationId: response.headers.get("x-correlation-id"),
    retryable: isTransientApiFailure(code, response.status),
    request: label,
  });
}

function fallbackCode(status: number): string {
  return status === 429 ? "rate_limit_exceeded" : `http_${status}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
