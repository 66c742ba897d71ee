/** Server routes: list with filters, create, get, delete, and the server's actions. */
import { listActions } from "./actions.ts";
import { notFound, SimApiError, uniquenessError } from "./errors.ts";
import { matchesSelector, parseSelector } from "./labels.ts";
import { paginate, sortItems } from "./paging.ts";
import { readJsonObject } from "./request-body.ts";
import type { Route } from "./router.ts";
import { parseCreateServer } from "./server-input.ts";
import { createServer, deleteServer } from "./server-lifecycle.ts";
import { type Server, serverView } from "./server-view.ts";
import type { World } from "./world.ts";

export function existingServer(world: World, id: number | undefined): Server {
  const server = world.servers.get(id ?? 0);
  if (!server) throw notFound("server");
  return server;
}

function listServers(world: World, query: URLSearchParams): Response {
  const selector = parseSelector(query.get("label_selector"));
  const name = query.get("name");
  const statuses = query.getAll("status");
  const matching = [...world.servers.values()].filter(
    (s) =>
      (name === null || s.name === name) &&
      (statuses.length === 0 || statuses.includes(s.status)) &&
      matchesSelector(selector, s.labels),
  );
  const sorted = sortItems(matching, query, {
    id: (s) => s.id,
    name: (s) => s.name,
    created: (s) => s.created,
  });
  const { items, meta } = paginate(sorted, query);
  return Response.json({ servers: items.map((s) => serverView(world, s)), meta });
}

function randomRootPassword(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(15))).toString("base64url");
}

async function postServer(world: World, request: Request): Promise<Response> {
  const input = parseCreateServer(world, await readJsonObject(request));
  if ([...world.servers.values()].some((s) => s.name === input.name)) throw uniquenessError("name");
  const location = input.datacenter.location.name;
  if (world.faults.locationUnavailable(location, input.serverType.name))
    throw new SimApiError(412, "resource_unavailable", "server location disabled");
  const full = world.serverLimit !== null && world.servers.size >= world.serverLimit;
  if (full || world.faults.serverLimitReached())
    throw new SimApiError(403, "resource_limit_exceeded", "server limit exceeded");
  const { server, action, nextActions } = await createServer(world, input);
  return Response.json(
    {
      server: serverView(world, server),
      action: world.actions.view(action),
      next_actions: nextActions.map((a) => world.actions.view(a)),
      root_password: input.sshKeys.length > 0 ? null : randomRootPassword(),
    },
    { status: 201 },
  );
}

export function serverRoutes(world: World): Route[] {
  return [
    { method: "GET", template: "/servers", handle: ({ query }) => listServers(world, query) },
    { method: "POST", template: "/servers", handle: ({ request }) => postServer(world, request) },
    {
      method: "GET",
      template: "/servers/{id}",
      handle: ({ params }) => Response.json({ server: serverView(world, existingServer(world, params.id)) }),
    },
    {
      method: "DELETE",
      template: "/servers/{id}",
      handle: ({ params }) => {
        const action = deleteServer(world, existingServer(world, params.id));
        return Response.json({ action: world.actions.view(action) });
      },
    },
    {
      method: "GET",
      template: "/servers/{id}/actions",
      handle: ({ params, query }) => {
        const server = existingServer(world, params.id);
        return Response.json(
          listActions(world.actions, world.actions.forResource("server", server.id), query),
        );
      },
    },
  ];
}
