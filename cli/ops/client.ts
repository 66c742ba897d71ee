/** The ops API as the CLI calls it: JSON over HTTP with the operator token, and typed failures. */
import type { OpsEnv } from "./env.ts";

/** The API answered with an error body `{code, message, requestId}`. Exit code 1. */
export class OpsApiError extends Error {
  override readonly name = "OpsApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

/** No answer from the API (refused, timed out, not HTTP). Exit code 3. */
export class OpsApiUnreachableError extends Error {
  override readonly name = "OpsApiUnreachableError";
}

/** One call's answer: the status and the parsed JSON body. */
export interface OpsAnswer {
  status: number;
  body: unknown;
}

export interface OpsClient {
  get(path: string, query?: Record<string, string | undefined>): Promise<OpsAnswer>;
  post(path: string, body?: unknown): Promise<OpsAnswer>;
}

/** Bound of one API call, in ms: the API answers from its database, and the status call bounds its broker query. */
const REQUEST_TIMEOUT_MS = 15_000;

export function createOpsClient(env: OpsEnv): OpsClient {
  const call = async (method: "GET" | "POST", url: string, body?: unknown): Promise<OpsAnswer> => {
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${env.token}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new OpsApiUnreachableError(`cannot reach the API at ${env.apiUrl}: ${reason}`, { cause: err });
    }
    const answer = { status: response.status, body: await jsonOf(response, env.apiUrl) };
    if (!response.ok) throw apiErrorOf(answer, response.headers.get("x-request-id"));
    return answer;
  };
  return {
    get: (path, query = {}) => call("GET", urlOf(env.apiUrl, path, query)),
    post: (path, body) => call("POST", urlOf(env.apiUrl, path, {}), body),
  };
}

function urlOf(base: string, path: string, query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value);
  return `${base}${path}${params.size > 0 ? `?${params}` : ""}`;
}

async function jsonOf(response: Response, apiUrl: string): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new OpsApiUnreachableError(
      `${apiUrl} answered HTTP ${response.status} without JSON: is OPS_API_URL the rachel-provisioner API?`,
    );
  }
}

function apiErrorOf(answer: OpsAnswer, headerRequestId: string | null): OpsApiError {
  const body = (typeof answer.body === "object" && answer.body !== null ? answer.body : {}) as Record<
    string,
    unknown
  >;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return new OpsApiError(
    answer.status,
    text(body.code) ?? `http_${answer.status}`,
    text(body.message) ?? `HTTP ${answer.status}`,
    text(body.requestId) ?? headerRequestId,
  );
}
