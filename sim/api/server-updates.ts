/**
 * Changes to an existing server: PUT /servers/{id} (name and labels) and the change_protection action.
 * Both follow create's rules: a valid, unique name, valid labels, and 423 locked while the server is
 * being created or deleted.
 */
import { invalidField, uniquenessError } from "./errors.ts";
import { parseLabels } from "./labels.ts";
import { optionalString, readJsonObject } from "./request-body.ts";
import type { Route } from "./router.ts";
import { checkServerName } from "./server-input.ts";
import { assertUnlocked } from "./server-lifecycle.ts";
import { type Server, serverView } from "./server-view.ts";
import { existingServer } from "./servers.ts";
import type { World } from "./world.ts";

async function updateServer(world: World, server: Server, request: Request): Promise<Response> {
  const body = await readJsonObject(request);
  const name = optionalString(body, "name");
  if (name !== undefined) checkServerName(name);
  const labels = body.labels === undefined ? undefined : parseLabels(body.labels);
  assertUnlocked(server);
  if (name !== undefined && [...world.servers.values()].some((s) => s !== server && s.name === name))
    throw uniquenessError("name");
  if (name !== undefined) server.name = name;
  if (labels !== undefined) server.labels = labels;
  return Response.json({ server: serverView(world, server) });
}

function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalidField(field, "Not a valid boolean.");
  return value;
}

/**
 * Hetzner couples the two flags ("currently delete and rebuild attribute needs to have the same value"):
 * both given must agree, and one given alone sets both.
 */
async function changeProtection(world: World, server: Server, request: Request): Promise<Response> {
  const body = await readJsonObject(request);
  const remove = optionalBoolean(body, "delete");
  const rebuild = optionalBoolean(body, "rebuild");
  if (remove === undefined && rebuild === undefined)
    throw invalidField("delete", "delete or rebuild is required");
  if (remove !== undefined && rebuild !== undefined && remove !== rebuild)
    throw invalidField("rebuild", "delete and rebuild must have the same value");
  assertUnlocked(server);
  const value = (remove ?? rebuild) as boolean;
  server.protection = { delete: value, rebuild: value };
  const action = world.actions.completed("change_protection", [{ id: server.id, type: "server" }]);
  return Response.json({ action: world.actions.view(action) }, { status: 201 });
}

export function serverUpdateRoutes(world: World): Route[] {
  return [
    {
      method: "PUT",
      template: "/servers/{id}",
      handle: ({ params, request }) => updateServer(world, existingServer(world, params.id), request),
    },
    {
      method: "POST",
      template: "/servers/{id}/actions/change_protection",
      handle: ({ params, request }) => changeProtection(world, existingServer(world, params.id), request),
    },
  ];
}
