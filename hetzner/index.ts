export type { ActionsApi, WaitForActionsOptions } from "./actions.ts";
export type { CallOptions } from "./call-options.ts";
export { createHetznerClient, type HetznerClient, type HetznerClientOptions } from "./client.ts";
export type { DatacentersApi } from "./datacenters.ts";
export {
  HetznerActionError,
  HetznerActionTimeoutError,
  HetznerApiError,
  HetznerError,
  HetznerNetworkError,
  HetznerResponseError,
  HetznerTimeoutError,
  isHetznerError,
  type PendingAction,
} from "./errors.ts";
export type {
  CreatedFirewall,
  CreateFirewallInput,
  FirewallRuleInput,
  FirewallsApi,
  ListFirewallsFilter,
} from "./firewalls.ts";
export type { HetznerLogger, HetznerRequestEvent } from "./http.ts";
export type { LocationsApi } from "./locations.ts";
export {
  RateLimitBudget,
  type RateLimitBudgetOptions,
  type RateLimitStats,
} from "./rate-limit.ts";
export type { RetryOptions } from "./retry.ts";
export type { Action, Datacenter, Firewall, FirewallRule, Location, Server, SshKey } from "./schemas.ts";
export type { ServerType, ServerTypesApi } from "./server-types.ts";
export type {
  CreatedServer,
  CreateServerInput,
  ListServersFilter,
  ServerProtection,
  ServersApi,
} from "./servers.ts";
export type { CreateSshKeyInput, ListSshKeysFilter, SshKeysApi } from "./ssh-keys.ts";
