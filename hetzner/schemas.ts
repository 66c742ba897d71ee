/**
 * Zod schemas for the parts of Hetzner's responses the service reads, following
 * hetzner/openapi/hcloud-openapi.json (components.schemas.*). Fields the service never reads are
 * left out on purpose; zod drops them, so responses stay valid when Hetzner adds fields.
 */
import { z } from "zod";

export const labelsSchema = z.record(z.string(), z.string());

/** components.schemas.error_response */
export const errorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

/** components.schemas.meta (pagination) */
export const metaSchema = z.object({
  pagination: z.object({
    page: z.number().int(),
    per_page: z.number().int(),
    previous_page: z.number().int().nullable(),
    next_page: z.number().int().nullable(),
    last_page: z.number().int().nullable(),
    total_entries: z.number().int().nullable(),
  }),
});

/** components.schemas.action */
export const actionSchema = z.object({
  id: z.number().int(),
  command: z.string(),
  status: z.enum(["running", "success", "error"]),
  progress: z.number().int(),
  started: z.string(),
  finished: z.string().nullable(),
  resources: z.array(z.object({ id: z.number().int(), type: z.string() })),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type Action = z.infer<typeof actionSchema>;

/** components.schemas.location */
export const locationSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  country: z.string(),
  city: z.string(),
  network_zone: z.string(),
});
export type Location = z.infer<typeof locationSchema>;

/** components.schemas.data_center */
export const datacenterSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  location: locationSchema,
  server_types: z.object({
    available: z.array(z.number().int()),
    supported: z.array(z.number().int()),
    available_for_migration: z.array(z.number().int()),
  }),
});
export type Datacenter = z.infer<typeof datacenterSchema>;

/** components.schemas.server */
export const serverSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  status: z.enum([
    "deleting",
    "initializing",
    "migrating",
    "off",
    "rebuilding",
    "running",
    "starting",
    "stopping",
    "unknown",
  ]),
  created: z.string(),
  labels: labelsSchema,
  locked: z.boolean(),
  public_net: z.object({
    ipv4: z.object({ ip: z.string(), blocked: z.boolean(), dns_ptr: z.string() }).nullable(),
    ipv6: z.object({ ip: z.string(), blocked: z.boolean() }).nullable(),
    firewalls: z.array(z.object({ id: z.number().int(), status: z.enum(["applied", "pending"]) })).optional(),
  }),
  location: locationSchema,
  server_type: z.object({ id: z.number().int(), name: z.string() }),
  image: z.object({ id: z.number().int(), name: z.string().nullable() }).nullable(),
  protection: z.object({ delete: z.boolean(), rebuild: z.boolean() }),
});
export type Server = z.infer<typeof serverSchema>;

/** components.schemas.ssh_key */
export const sshKeySchema = z.object({
  id: z.number().int(),
  name: z.string(),
  fingerprint: z.string(),
  public_key: z.string(),
  labels: labelsSchema,
  created: z.string(),
});
export type SshKey = z.infer<typeof sshKeySchema>;

/** components.schemas.rule (as returned: RuleResponse) */
export const firewallRuleSchema = z.object({
  direction: z.enum(["in", "out"]),
  protocol: z.enum(["esp", "gre", "icmp", "tcp", "udp"]),
  port: z.string().nullable(),
  source_ips: z.array(z.string()),
  destination_ips: z.array(z.string()),
  description: z.string().nullable().optional(),
});
export type FirewallRule = z.infer<typeof firewallRuleSchema>;

/** components.schemas.firewall */
export const firewallSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  labels: labelsSchema.optional(),
  created: z.string(),
  rules: z.array(firewallRuleSchema),
  applied_to: z.array(z.object({ type: z.enum(["label_selector", "server"]) })),
});
export type Firewall = z.infer<typeof firewallSchema>;
