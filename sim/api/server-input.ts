/** Validation of POST /servers bodies: names, catalogue references, labels, SSH keys, firewalls, user_data. */
import {
  byNameOrId,
  datacenterByRef,
  datacenterIn,
  imageByRef,
  locationByRef,
  serverTypeAvailableIn,
  serverTypeByRef,
} from "./catalogue.ts";
import { type Datacenter, type Image, LOCATIONS, type ServerTypeSpec } from "./catalogue-data.ts";
import { invalidField, SimApiError } from "./errors.ts";
import type { Firewall } from "./firewalls.ts";
import { type Labels, parseLabels } from "./labels.ts";
import { optionalRef, optionalString, requireRef, requireString } from "./request-body.ts";
import type { SshKey } from "./ssh-keys.ts";
import type { World } from "./world.ts";

/** Hetzner's limit on `user_data`, in UTF-8 bytes. */
const USER_DATA_MAX_BYTES = 32_768;

export interface CreateServerInput {
  name: string;
  serverType: ServerTypeSpec;
  image: Image;
  datacenter: Datacenter;
  labels: Labels;
  sshKeys: SshKey[];
  firewalls: Firewall[];
  userData: string | null;
  startAfterCreate: boolean;
}

const HOSTNAME_LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** RFC 1123 hostname: dot-separated labels of letters, digits and inner hyphens, 253 chars at most. */
function isValidServerName(name: string): boolean {
  return name.length <= 253 && name.split(".").every((label) => HOSTNAME_LABEL.test(label));
}

/** A server name from a create or update body: present, a valid hostname; invalid_input otherwise. */
export function checkServerName(name: string): string {
  if (!isValidServerName(name)) throw invalidField("name", "must be a valid hostname (RFC 1123)");
  return name;
}

function placement(body: Record<string, unknown>, serverType: ServerTypeSpec): Datacenter {
  const locationRef = optionalRef(body, "location");
  const datacenterRef = optionalRef(body, "datacenter");
  if (locationRef !== undefined && datacenterRef !== undefined)
    throw invalidField("location", "location and datacenter are mutually exclusive");
  if (datacenterRef !== undefined) {
    const dc = datacenterByRef(datacenterRef);
    if (!dc) throw invalidField("datacenter", "datacenter not found");
    return dc;
  }
  if (locationRef !== undefined) {
    const location = locationByRef(locationRef);
    if (!location) throw invalidField("location", "location not found");
    return datacenterIn(location);
  }
  // Hetzner places an unpinned server wherever the type is offered; the simulator takes the first such location.
  const fallback = LOCATIONS.find((l) => serverTypeAvailableIn(serverType, l));
  if (!fallback) throw invalidField("server_type", "server type is not available anywhere");
  return datacenterIn(fallback);
}

function sshKeys(world: World, input: unknown): SshKey[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw invalidField("ssh_keys", "must be a list of names or ids");
  return input.map((ref: unknown) => {
    const key =
      typeof ref === "string" || typeof ref === "number"
        ? byNameOrId(world.sshKeys.values(), ref)
        : undefined;
    if (!key) throw invalidField("ssh_keys", `ssh key '${String(ref)}' not found`);
    return key;
  });
}

function firewalls(world: World, input: unknown): Firewall[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw invalidField("firewalls", "must be a list of {firewall: id}");
  return input.map((entry: unknown) => {
    const id = (entry as { firewall?: unknown } | null)?.firewall;
    const firewall = typeof id === "number" ? world.firewalls.get(id) : undefined;
    if (!firewall) throw invalidField("firewalls", `firewall '${String(id)}' not found`);
    return firewall;
  });
}

function userData(body: Record<string, unknown>): string | null {
  const value = optionalString(body, "user_data");
  if (value === undefined) return null;
  if (Buffer.byteLength(value, "utf8") > USER_DATA_MAX_BYTES)
    throw invalidField("user_data", `Length must be between 0 and ${USER_DATA_MAX_BYTES}.`);
  return value;
}

export function parseCreateServer(world: World, body: Record<string, unknown>): CreateServerInput {
  const name = checkServerName(requireString(body, "name"));
  const serverType = serverTypeByRef(requireRef(body, "server_type"));
  if (!serverType) throw invalidField("server_type", "server type not found");
  const image = imageByRef(requireRef(body, "image"));
  if (!image) throw invalidField("image", "image not found");
  const datacenter = placement(body, serverType);
  // Hetzner's own words for a type not offered where it was asked for.
  if (!serverTypeAvailableIn(serverType, datacenter.location))
    throw new SimApiError(422, "invalid_input", "unsupported location for server type", {
      fields: [
        {
          name: "server_type",
          messages: [`server type ${serverType.name} is not available in ${datacenter.location.name}`],
        },
      ],
    });
  const start = body.start_after_create;
  if (start !== undefined && typeof start !== "boolean")
    throw invalidField("start_after_create", "must be a boolean");
  return {
    name,
    serverType,
    image,
    datacenter,
    labels: parseLabels(body.labels),
    sshKeys: sshKeys(world, body.ssh_keys),
    firewalls: firewalls(world, body.firewalls),
    userData: userData(body),
    startAfterCreate: start ?? true,
  };
}
