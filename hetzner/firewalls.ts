import { z } from "zod";
import { type CallOptions, nullIfNotFound } from "./call-options.ts";
import type { HetznerHttp } from "./http.ts";
import { paginate } from "./pagination.ts";
import { type Action, actionSchema, type Firewall, firewallSchema, metaSchema } from "./schemas.ts";

export interface FirewallRuleInput {
  direction: "in" | "out";
  protocol: "tcp" | "udp" | "icmp" | "esp" | "gre";
  /** Port or range, e.g. "22" or "8000-9000"; required for tcp/udp, omitted otherwise. */
  port?: string;
  /** CIDRs the rule admits, for direction "in". */
  sourceIps?: string[];
  /** CIDRs the rule admits, for direction "out". */
  destinationIps?: string[];
  description?: string;
}

export interface CreateFirewallInput {
  /** Unique per project, at most 128 characters. */
  name: string;
  rules?: FirewallRuleInput[];
  labels?: Record<string, string>;
}

export interface CreatedFirewall {
  firewall: Firewall;
  /** Actions setting the rules (and applying the firewall, if it was applied anywhere). */
  actions: Action[];
}

export interface ListFirewallsFilter extends CallOptions {
  name?: string;
  labelSelector?: string;
}

const createResponse = z.object({ firewall: firewallSchema, actions: z.array(actionSchema).default([]) });
const getResponse = z.object({ firewall: firewallSchema });
const listResponse = z.object({ firewalls: z.array(firewallSchema), meta: metaSchema });

export function firewallsApi(http: HetznerHttp) {
  const list = (filter: ListFirewallsFilter = {}): AsyncGenerator<Firewall> =>
    paginate(http, {
      path: "/firewalls",
      query: { name: filter.name, label_selector: filter.labelSelector },
      schema: listResponse,
      items: (page) => page.firewalls,
      signal: filter.signal,
    });

  return {
    /** POST /firewalls; uniqueness_error when the name is taken. */
    async create(input: CreateFirewallInput, options: CallOptions = {}): Promise<CreatedFirewall> {
      const body = await http({
        method: "POST",
        path: "/firewalls",
        body: { name: input.name, labels: input.labels, rules: input.rules?.map(toWireRule) },
        schema: createResponse,
        signal: options.signal,
      });
      return { firewall: body.firewall, actions: body.actions };
    },

    /** GET /firewalls/{id}; null when it does not exist. */
    async get(id: number, options: CallOptions = {}): Promise<Firewall | null> {
      const body = await nullIfNotFound(
        http({ method: "GET", path: `/firewalls/${id}`, schema: getResponse, signal: options.signal }),
      );
      return body?.firewall ?? null;
    },

    /** GET /firewalls, all pages, filtered by name and/or label selector. */
    list,

    listAll: (filter: ListFirewallsFilter = {}): Promise<Firewall[]> => Array.fromAsync(list(filter)),

    /** DELETE /firewalls/{id}; false when it was already gone; resource_in_use while still applied. */
    async delete(id: number, options: CallOptions = {}): Promise<boolean> {
      const deleted = await nullIfNotFound(
        http({
          method: "DELETE",
          path: `/firewalls/${id}`,
          schema: z.undefined(),
          signal: options.signal,
        }).then(() => true),
      );
      return deleted ?? false;
    },
  };
}

function toWireRule(rule: FirewallRuleInput) {
  return {
    direction: rule.direction,
    protocol: rule.protocol,
    port: rule.port,
    source_ips: rule.sourceIps,
    destination_ips: rule.destinationIps,
    description: rule.description,
  };
}

export type FirewallsApi = ReturnType<typeof firewallsApi>;
