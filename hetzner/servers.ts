import { z } from "zod";
import { type CallOptions, nullIfNotFound } from "./call-options.ts";
import type { HetznerHttp } from "./http.ts";
import { paginate } from "./pagination.ts";
import { type Action, actionSchema, metaSchema, type Server, serverSchema } from "./schemas.ts";

export interface CreateServerInput {
  /** RFC 1123 hostname, unique per project. */
  name: string;
  /** Server type name or id, e.g. "cx23". */
  serverType: string;
  /** Image name or id, e.g. "ubuntu-24.04". */
  image: string;
  /** Location name, e.g. "nbg1"; Hetzner picks one when omitted. */
  location?: string;
  /** cloud-init user data, at most 32768 bytes. */
  userData?: string;
  labels?: Record<string, string>;
  /** SSH key ids or names to install for root. */
  sshKeys?: (number | string)[];
  /** Firewall ids to apply to the public interface at creation. */
  firewalls?: number[];
  /** Power the server on once created (Hetzner's default: true). */
  startAfterCreate?: boolean;
}

export interface CreatedServer {
  server: Server;
  /** The create_server action. */
  action: Action;
  /** Actions Hetzner chained after it, e.g. start_server. */
  nextActions: Action[];
}

export interface ListServersFilter extends CallOptions {
  name?: string;
  /** Hetzner label selector, e.g. "owner=rachel,instance in (a,b)". */
  labelSelector?: string;
}

export interface ServerProtection {
  /** Refuse DELETE with 423 `protected` until lifted. */
  delete: boolean;
  /** Refuse rebuilds; Hetzner currently requires it to equal `delete`. */
  rebuild: boolean;
}

const createResponse = z.object({
  server: serverSchema,
  action: actionSchema,
  next_actions: z.array(actionSchema),
});
const getResponse = z.object({ server: serverSchema });
const listResponse = z.object({ servers: z.array(serverSchema), meta: metaSchema });
const deleteResponse = z.object({ action: actionSchema });
const actionResponse = z.object({ action: actionSchema });
const actionsResponse = z.object({ actions: z.array(actionSchema), meta: metaSchema });

export function serversApi(http: HetznerHttp) {
  const list = (filter: ListServersFilter = {}): AsyncGenerator<Server> =>
    paginate(http, {
      path: "/servers",
      query: { name: filter.name, label_selector: filter.labelSelector },
      schema: listResponse,
      items: (page) => page.servers,
      signal: filter.signal,
    });

  return {
    /** POST /servers. A retried create whose first attempt went through meets uniqueness_error: adopt by name. */
    async create(input: CreateServerInput, options: CallOptions = {}): Promise<CreatedServer> {
      const body = await http({
        method: "POST",
        path: "/servers",
        body: {
          name: input.name,
          server_type: input.serverType,
          image: input.image,
          location: input.location,
          user_data: input.userData,
          labels: input.labels,
          ssh_keys: input.sshKeys?.map(String),
          firewalls: input.firewalls?.map((firewall) => ({ firewall })),
          start_after_create: input.startAfterCreate,
        },
        schema: createResponse,
        signal: options.signal,
      });
      return { server: body.server, action: body.action, nextActions: body.next_actions };
    },

    /** GET /servers/{id}; null when it does not exist. */
    async get(id: number, options: CallOptions = {}): Promise<Server | null> {
      const body = await nullIfNotFound(
        http({ method: "GET", path: `/servers/${id}`, schema: getResponse, signal: options.signal }),
      );
      return body?.server ?? null;
    },

    /** GET /servers, all pages (50 per request), filtered by name and/or label selector. */
    list,

    /** Every server matching the filter, collected from all pages. */
    listAll: (filter: ListServersFilter = {}): Promise<Server[]> => Array.fromAsync(list(filter)),

    /**
     * PUT /servers/{id} with new labels, which replace all the server's labels (the name stays). Idempotent:
     * repeating it sets the same labels. A server being created or deleted answers `locked` (retried).
     */
    async relabel(id: number, labels: Record<string, string>, options: CallOptions = {}): Promise<Server> {
      const body = await http({
        method: "PUT",
        path: `/servers/${id}`,
        body: { labels },
        schema: getResponse,
        signal: options.signal,
      });
      return body.server;
    },

    /**
     * POST /servers/{id}/actions/change_protection; returns its change_protection action. A protected
     * server answers DELETE with `protected` (permanent) until this lifts it.
     */
    async changeProtection(
      id: number,
      protection: ServerProtection,
      options: CallOptions = {},
    ): Promise<Action> {
      const body = await http({
        method: "POST",
        path: `/servers/${id}/actions/change_protection`,
        body: protection,
        schema: actionResponse,
        signal: options.signal,
      });
      return body.action;
    },
    /** GET /servers/{id}/actions, all pages: what was done to the server (create_server, start_server, …). */
    actions: (id: number, options: CallOptions = {}): Promise<Action[]> =>
      Array.fromAsync(
        paginate(http, {
          path: `/servers/${id}/actions`,
          query: {},
          schema: actionsResponse,
          items: (page) => page.actions,
          signal: options.signal,
        }),
      ),

    /** DELETE /servers/{id}; returns the delete_server action, or null when the server was already gone. */
    async delete(id: number, options: CallOptions = {}): Promise<Action | null> {
      const body = await nullIfNotFound(
        http({ method: "DELETE", path: `/servers/${id}`, schema: deleteResponse, signal: options.signal }),
      );
      return body?.action ?? null;
    },
  };
}

export type ServersApi = ReturnType<typeof serversApi>;
