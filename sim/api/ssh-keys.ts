/** SSH keys: create (unique name and fingerprint), list by name/fingerprint/labels, get, delete. */
import { createHash } from "node:crypto";
import { invalidField, notFound, uniquenessError } from "./errors.ts";
import { type Labels, matchesSelector, parseLabels, parseSelector } from "./labels.ts";
import { paginate, sortItems } from "./paging.ts";
import { optionalString, readJsonObject, requireString } from "./request-body.ts";
import type { Route } from "./router.ts";
import type { World } from "./world.ts";

export interface SshKey {
  id: number;
  name: string;
  fingerprint: string;
  public_key: string;
  labels: Labels;
  created: string;
}

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);

/** The type name a key blob declares in its first length-prefixed field. */
function blobType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const length = blob.readUInt32BE(0);
  if (length > blob.length - 4) return null;
  return blob.subarray(4, 4 + length).toString("latin1");
}

/** Hetzner's fingerprint: MD5 of the decoded key blob, as colon-separated hex pairs. */
export function fingerprintOf(publicKey: string): string {
  const [type = "", data = ""] = publicKey.trim().split(/\s+/);
  const blob = Buffer.from(data, "base64");
  if (!KEY_TYPES.has(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data) || blobType(blob) !== type)
    throw invalidField("public_key", "invalid public key");
  return (createHash("md5").update(blob).digest("hex").match(/../g) ?? []).join(":");
}

async function createSshKey(world: World, request: Request): Promise<Response> {
  const body = await readJsonObject(request);
  const name = requireString(body, "name");
  const publicKey = requireString(body, "public_key");
  const labels = parseLabels(body.labels);
  const fingerprint = fingerprintOf(publicKey);
  const existing = [...world.sshKeys.values()];
  if (existing.some((k) => k.name === name)) throw uniquenessError("name");
  if (existing.some((k) => k.fingerprint === fingerprint)) throw uniquenessError("public_key");
  const key: SshKey = {
    id: world.ids.sshKey++,
    name,
    fingerprint,
    public_key: publicKey.trim(),
    labels,
    created: new Date(world.clock.now()).toISOString(),
  };
  world.sshKeys.set(key.id, key);
  return Response.json({ ssh_key: key }, { status: 201 });
}

function listSshKeys(world: World, query: URLSearchParams): Response {
  const selector = parseSelector(query.get("label_selector"));
  const name = query.get("name");
  const fingerprint = query.get("fingerprint");
  const matching = [...world.sshKeys.values()].filter(
    (k) =>
      (name === null || k.name === name) &&
      (fingerprint === null || k.fingerprint === fingerprint) &&
      matchesSelector(selector, k.labels),
  );
  const sorted = sortItems(matching, query, { id: (k) => k.id, name: (k) => k.name });
  const { items, meta } = paginate(sorted, query);
  return Response.json({ ssh_keys: items, meta });
}

/** PUT /ssh_keys/{id}: a new name (unique, as on create) and/or labels; the key itself never changes. */
async function updateSshKey(world: World, key: SshKey, request: Request): Promise<Response> {
  const body = await readJsonObject(request);
  const name = optionalString(body, "name");
  if (name === "") throw invalidField("name", "must not be empty");
  const labels = body.labels === undefined ? undefined : parseLabels(body.labels);
  if (name !== undefined && [...world.sshKeys.values()].some((k) => k !== key && k.name === name))
    throw uniquenessError("name");
  if (name !== undefined) key.name = name;
  if (labels !== undefined) key.labels = labels;
  return Response.json({ ssh_key: key });
}

function existingKey(world: World, id: number | undefined): SshKey {
  const key = world.sshKeys.get(id ?? 0);
  if (!key) throw notFound("ssh_key");
  return key;
}

export function sshKeyRoutes(world: World): Route[] {
  return [
    { method: "GET", template: "/ssh_keys", handle: ({ query }) => listSshKeys(world, query) },
    { method: "POST", template: "/ssh_keys", handle: ({ request }) => createSshKey(world, request) },
    {
      method: "GET",
      template: "/ssh_keys/{id}",
      handle: ({ params }) => Response.json({ ssh_key: existingKey(world, params.id) }),
    },
    {
      method: "PUT",
      template: "/ssh_keys/{id}",
      handle: ({ params, request }) => updateSshKey(world, existingKey(world, params.id), request),
    },
    {
      method: "DELETE",
      template: "/ssh_keys/{id}",
      handle: ({ params }) => {
        world.sshKeys.delete(existingKey(world, params.id).id);
        return new Response(null, { status: 204 });
      },
    },
  ];
}
