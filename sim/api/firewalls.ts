/** Firewalls: create (with rules and apply_to), list, get, delete; servers reference them by id. */
import { invalidField, notFound, SimApiError, uniquenessError } from "./errors.ts";
import { type Labels, matchesSelector, parseLabels, parseSelector } from "./labels.ts";
import { paginate, sortItems } from "./paging.ts";
import { optionalString, readJsonObject, requireString } from "./request-body.ts";
import type { Route } from "./router.ts";
import type { World } from "./world.ts";

export interface FirewallRule {
  direction: "in" | "out";
  protocol: "tcp" | "udp" | "icmp" | "esp" | "gre";
  port: string | null;
  source_ips: string[];
  destination_ips: string[];
  description: string | null;
}

export interface Firewall {
  id: number;
  name: string;
  labels: Labels;
  rules: FirewallRule[];
  /** Servers the firewall is applied to directly. */
  serverIds: Set<number>;
  /** Label selectors the firewall is applied through. */
  selectors: string[];
  created: string;
}

/** Hetzner's limit on a firewall's name. */
const NAME_MAX_CHARS = 128;

function checkFirewallName(name: string): string {
  if (name === "" || name.length > NAME_MAX_CHARS)
    throw invalidField("name", `Length must be between 1 and ${NAME_MAX_CHARS}.`);
  return name;
}

const PROTOCOLS = new Set(["tcp", "udp", "icmp", "esp", "gre"]);
const PORT = /^(any|\d{1,5}(-\d{1,5})?)$/;
const CIDR = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

function ipList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((ip) => typeof ip !== "string" || !CIDR.test(ip)))
    throw invalidField(field, "must be a list of CIDR networks");
  return value as string[];
}

function parseRule(input: unknown): FirewallRule {
  if (typeof input !== "object" || input === null) throw invalidField("rules", "each rule must be an object");
  const rule = input as Record<string, unknown>;
  const { direction, protocol, port } = rule;
  if (direction !== "in" && direction !== "out")
    throw invalidField("rules", "direction must be 'in' or 'out'");
  if (typeof protocol !== "string" || !PROTOCOLS.has(protocol))
    throw invalidField("rules", "unknown protocol");
  const needsPort = protocol === "tcp" || protocol === "udp";
  if (needsPort && (typeof port !== "string" || !PORT.test(port)))
    throw invalidField("rules", "port is required for tcp and udp");
  const source = ipList(rule.source_ips, "rules");
  const destination = ipList(rule.destination_ips, "rules");
  if (direction === "in" ? source.length === 0 : destination.length === 0)
    throw invalidField("rules", `${direction === "in" ? "source_ips" : "destination_ips"} must not be empty`);
  return {
    direction,
    protocol: protocol as FirewallRule["protocol"],
    port: needsPort ? (port as string) : null,
    source_ips: source,
    destination_ips: destination,
    description: typeof rule.description === "string" ? rule.description : null,
  };
}

function parseApplyTo(world: World, input: unknown): { serverIds: number[]; selectors: string[] } {
  const serverIds: number[] = [];
  const selectors: string[] = [];
  if (input === undefined) return { serverIds, selectors };
  if (!Array.isArray(input)) throw invalidField("apply_to", "must be a list");
  for (const entry of input as Record<string, unknown>[]) {
    const server = entry?.server as { id?: unknown } | undefined;
    const selector = (entry?.label_selector as { selector?: unknown } | undefined)?.selector;
    if (entry?.type === "server" && typeof server?.id === "number" && world.servers.has(server.id))
      serverIds.push(server.id);
    else if (entry?.type === "label_selector" && typeof selector === "string") {
      parseSelector(selector);
      selectors.push(selector);
    } else throw invalidField("apply_to", "unknown or missing resource");
  }
  return { serverIds, selectors };
}

/** Firewalls applied to a server, directly or through a label selector. */
export function firewallsOf(world: World, serverId: number, labels: Labels): Firewall[] {
  return [...world.firewalls.values()].filter(
    (f) => f.serverIds.has(serverId) || f.selectors.some((s) => matchesSelector(parseSelector(s), labels)),
  );
}

function firewallView(world: World, fw: Firewall) {
  const servers = [...world.servers.values()];
  return {
    id: fw.id,
    name: fw.name,
    labels: fw.labels,
    rules: fw.rules,
    created: fw.created,
    applied_to: [
      ...[...fw.serverIds].map((id) => ({ type: "server" as const, server: { id } })),
      ...fw.selectors.map((selector) => ({
        type: "label_selector" as const,
        label_selector: { selector },
        applied_to_resources: servers
          .filter((s) => matchesSelector(parseSelector(selector), s.labels))
          .map((s) => ({ type: "server" as const, server: { id: s.id } })),
      })),
    ],
  };
}

async function createFirewall(world: World, request: Request): Promise<Response> {
  const body = await readJsonObject(request);
  const name = checkFirewallName(requireString(body, "name"));
  const labels = parseLabels(body.labels);
  if (body.rules !== undefined && !Array.isArray(body.rules)) throw invalidField("rules", "must be a list");
  const rules = ((body.rules as unknown[] | undefined) ?? []).map(parseRule);
  const { serverIds, selectors } = parseApplyTo(world, body.apply_to);
  if ([...world.firewalls.values()].some((f) => f.name === name)) throw uniquenessError("name");
  const firewall: Firewall = {
    id: world.ids.firewall++,
    name,
    labels,
    rules,
    serverIds: new Set(serverIds),
    selectors,
    created: new Date(world.clock.now()).toISOString(),
  };
  world.firewalls.set(firewall.id, firewall);
  const resource = { id: firewall.id, type: "firewall" };
  const commands = [
    ...(rules.length ? ["set_firewall_rules"] : []),
    ...[...serverIds, ...selectors].map(() => "apply_firewall"),
  ];
  const actions = commands.map((command) => world.actions.view(world.actions.completed(command, [resource])));
  return Response.json({ firewall: firewallView(world, firewall), actions }, { status: 201 });
}

function listFirewalls(world: World, query: URLSearchParams): Response {
  const selector = parseSelector(query.get("label_selector"));
  const name = query.get("name");
  const matching = [...world.firewalls.values()].filter(
    (f) => (name === null || f.name === name) && matchesSelector(selector, f.labels),
  );
  const sorted = sortItems(matching, query, {
    id: (f) => f.id,
    name: (f) => f.name,
    created: (f) => f.created,
  });
  const { items, meta } = paginate(sorted, query);
  return Response.json({ firewalls: items.map((f) => firewallView(world, f)), meta });
}

/** PUT /firewalls/{id}: a new name (unique, as on create) and/or labels; rules change through actions. */
async function updateFirewall(world: World, firewall: Firewall, request: Request): Promise<Response> {
  const body = await readJsonObject(request);
  const raw = optionalString(body, "name");
  const name = raw === undefined ? undefined : checkFirewallName(raw);
  const labels = body.labels === undefined ? undefined : parseLabels(body.labels);
  if (name !== undefined && [...world.firewalls.values()].some((f) => f !== firewall && f.name === name))
    throw uniquenessError("name");
  if (name !== undefined) firewall.name = name;
  if (labels !== undefined) firewall.labels = labels;
  return Response.json({ firewall: firewallView(world, firewall) });
}

function existingFirewall(world: World, id: number | undefined): Firewall {
  const firewall = world.firewalls.get(id ?? 0);
  if (!firewall) throw notFound("firewall");
  return firewall;
}

export function firewallRoutes(world: World): Route[] {
  return [
    { method: "GET", template: "/firewalls", handle: ({ query }) => listFirewalls(world, query) },
    { method: "POST", template: "/firewalls", handle: ({ request }) => createFirewall(world, request) },
    {
      method: "GET",
      template: "/firewalls/{id}",
      handle: ({ params }) =>
        Response.json({ firewall: firewallView(world, existingFirewall(world, params.id)) }),
    },
    {
      method: "PUT",
      template: "/firewalls/{id}",
      handle: ({ params, request }) => updateFirewall(world, existingFirewall(world, params.id), request),
    },
    {
      method: "DELETE",
      template: "/firewalls/{id}",
      handle: ({ params }) => {
        const firewall = existingFirewall(world, params.id);
        if (firewall.serverIds.size > 0 || firewall.selectors.length > 0)
          throw new SimApiError(422, "resource_in_use", "firewall is still applied to resources");
        world.firewalls.delete(firewall.id);
        return new Response(null, { status: 204 });
      },
    },
  ];
}
