import { z } from "zod";
import { type CallOptions, nullIfNotFound } from "./call-options.ts";
import type { HetznerHttp } from "./http.ts";
import { paginate } from "./pagination.ts";
import { metaSchema, type SshKey, sshKeySchema } from "./schemas.ts";

export interface CreateSshKeyInput {
  /** Unique per project. */
  name: string;
  /** OpenSSH public key line; its fingerprint must be unique per project too. */
  publicKey: string;
  labels?: Record<string, string>;
}

export interface ListSshKeysFilter extends CallOptions {
  name?: string;
  /** MD5 fingerprint as Hetzner shows it, e.g. "b7:2f:…". */
  fingerprint?: string;
  labelSelector?: string;
}

const oneResponse = z.object({ ssh_key: sshKeySchema });
const listResponse = z.object({ ssh_keys: z.array(sshKeySchema), meta: metaSchema });

export function sshKeysApi(http: HetznerHttp) {
  const list = (filter: ListSshKeysFilter = {}): AsyncGenerator<SshKey> =>
    paginate(http, {
      path: "/ssh_keys",
      query: { name: filter.name, fingerprint: filter.fingerprint, label_selector: filter.labelSelector },
      schema: listResponse,
      items: (page) => page.ssh_keys,
      signal: filter.signal,
    });

  return {
    /** POST /ssh_keys; uniqueness_error when the name or the fingerprint is taken. */
    async create(input: CreateSshKeyInput, options: CallOptions = {}): Promise<SshKey> {
      const body = await http({
        method: "POST",
        path: "/ssh_keys",
        body: { name: input.name, public_key: input.publicKey, labels: input.labels },
        schema: oneResponse,
        signal: options.signal,
      });
      return body.ssh_key;
    },

    /** GET /ssh_keys/{id}; null when it does not exist. */
    async get(id: number, options: CallOptions = {}): Promise<SshKey | null> {
      const body = await nullIfNotFound(
        http({ method: "GET", path: `/ssh_keys/${id}`, schema: oneResponse, signal: options.signal }),
      );
      return body?.ssh_key ?? null;
    },

    /** GET /ssh_keys, all pages, filtered by name, fingerprint and/or label selector. */
    list,

    listAll: (filter: ListSshKeysFilter = {}): Promise<SshKey[]> => Array.fromAsync(list(filter)),

    /** DELETE /ssh_keys/{id}; false when the key was already gone. */
    async delete(id: number, options: CallOptions = {}): Promise<boolean> {
      const deleted = await nullIfNotFound(
        http({
          method: "DELETE",
          path: `/ssh_keys/${id}`,
          schema: z.undefined(),
          signal: options.signal,
        }).then(() => true),
      );
      return deleted ?? false;
    },
  };
}

export type SshKeysApi = ReturnType<typeof sshKeysApi>;
