import { actionsApi } from "./actions.ts";
import { datacentersApi } from "./datacenters.ts";
import { firewallsApi } from "./firewalls.ts";
import { createHetznerHttp, type HetznerLogger, type HetznerRequestEvent } from "./http.ts";
import { locationsApi } from "./locations.ts";
import type { RateLimitBudget } from "./rate-limit.ts";
import { defaultRequestRetryPolicy, type RetryOptions } from "./retry.ts";
import { serverTypesApi } from "./server-types.ts";
import { serversApi } from "./servers.ts";
import { sshKeysApi } from "./ssh-keys.ts";

export interface HetznerClientOptions {
  /** API base including /v1, e.g. "https://api.hetzner.cloud/v1" or a simulator's endpoint. */
  endpoint: string;
  /** API token (read+write). Sent only in the Authorization header; never logged or put in errors. */
  token: string;
  /**
   * The project's rate-limit budget: Hetzner's limit is per project, so every client of one project shares
   * one, created at process start and passed in (never module state).
   */
  budget: RateLimitBudget;
  /** Limit on one HTTP exchange, in ms (default 30000); retries get a fresh one each. */
  requestTimeoutMs?: number;
  /** Backoff for transient failures (defaults: 5 attempts, 500 ms first delay, 15000 ms cap). */
  retry?: RetryOptions;
  /** Receives one debug line per HTTP attempt and a warn line per retry. */
  log?: HetznerLogger;
  /** Called after every HTTP attempt, retries included (metrics: requests by outcome, 429s); default none. */
  onRequest?: (event: HetznerRequestEvent) => void;
}

export function createHetznerClient(options: HetznerClientOptions) {
  const { budget } = options;
  const http = createHetznerHttp({
    endpoint: options.endpoint.replace(/\/+$/, ""),
    token: options.token,
    budget,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    retry: { ...defaultRequestRetryPolicy, ...options.retry },
    log: options.log,
    onRequest: options.onRequest,
  });
  return {
    servers: serversApi(http),
    actions: actionsApi(http),
    sshKeys: sshKeysApi(http),
    firewalls: firewallsApi(http),
    locations: locationsApi(http),
    datacenters: datacentersApi(http),
    serverTypes: serverTypesApi(http),
    /** The budget this client spends from, for metrics (`remaining()`, `stats()`). */
    budget,
  };
}

export type HetznerClient = ReturnType<typeof createHetznerClient>;
