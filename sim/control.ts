/**
 * The control API under /_sim/ (JSON, no auth, loopback only): machines, the request log, faults and
 * the rate limit, so tests in other processes and the demo can steer the simulator.
 */
import { z } from "zod";
import { errorBody } from "./api/errors.ts";
import type { TokenBucket } from "./api/rate-limit.ts";
import { DEFAULT_PROJECT } from "./api/world.ts";
import { type FaultRegistry, faultFromJson, type SimFault } from "./faults.ts";
import type { MachineHost } from "./machine-contract.ts";
import type { RequestLog } from "./request-log.ts";

export interface ControlDeps {
  machines: MachineHost;
  faults: FaultRegistry;
  log: RequestLog;
  /** The named project's request budget; null when there is no such project. */
  bucketOf(project: string): TokenBucket | null;
}

const rateLimitSchema = z.object({
  capacity: z.number().int().positive(),
  refillPerSecond: z.number().nonnegative(),
  initialTokens: z.number().int().nonnegative().optional(),
});

/** JSON cannot carry Infinity, so an unlimited `times` is shown as the string "Infinity". */
function faultJson(id: string, fault: SimFault) {
  const times = "times" in fault && fault.times === Infinity ? { times: "Infinity" } : {};
  return { id, ...fault, ...times };
}

function badRequest(message: string): Response {
  return Response.json(errorBody("invalid_input", message), { status: 400 });
}

/** The parsed JSON body, or null when it is not JSON (answered as 400 by the caller). */
async function jsonBody(request: Request): Promise<{ value: unknown } | null> {
  const text = await request.text();
  try {
    return { value: JSON.parse(text) };
  } catch {
    return null;
  }
}

async function addFault(deps: ControlDeps, request: Request): Promise<Response> {
  const body = await jsonBody(request);
  if (!body) return badRequest("body is not valid JSON");
  try {
    return Response.json({ id: deps.faults.add(faultFromJson(body.value)) }, { status: 201 });
  } catch (err) {
    if (err instanceof z.ZodError) return badRequest(`invalid fault: ${z.prettifyError(err)}`);
    throw err;
  }
}

/** `PUT /rate-limit[?project=name]`: the default project's budget unless another is named. */
async function setRateLimit(deps: ControlDeps, request: Request): Promise<Response> {
  const project = new URL(request.url).searchParams.get("project") ?? DEFAULT_PROJECT;
  const bucket = deps.bucketOf(project);
  if (!bucket) return Response.json(errorBody("not_found", `no project ${project}`), { status: 404 });
  const body = await jsonBody(request);
  if (!body) return badRequest("body is not valid JSON");
  const parsed = rateLimitSchema.safeParse(body.value);
  if (!parsed.success) return badRequest(`invalid rate limit: ${z.prettifyError(parsed.error)}`);
  bucket.reset(parsed.data);
  return Response.json(parsed.data);
}

/** Serves one request whose path starts after /_sim (e.g. "/faults/f1"). */
export async function handleControlRequest(
  deps: ControlDeps,
  request: Request,
  path: string,
): Promise<Response> {
  const route = `${request.method} ${path.replace(/^\/faults\/[^/]+$/, "/faults/{id}")}`;
  switch (route) {
    case "GET /machines":
      return Response.json(deps.machines.list().map((m) => m.view()));
    case "GET /requests":
      return Response.json(deps.log.list());
    case "DELETE /requests":
      deps.log.clear();
      return new Response(null, { status: 204 });
    case "GET /faults":
      return Response.json(deps.faults.entries().map(({ id, fault }) => faultJson(id, fault)));
    case "POST /faults":
      return addFault(deps, request);
    case "DELETE /faults":
      deps.faults.clear();
      return new Response(null, { status: 204 });
    case "DELETE /faults/{id}": {
      const id = decodeURIComponent(path.slice("/faults/".length));
      if (!deps.faults.entries().some((e) => e.id === id))
        return Response.json(errorBody("not_found", `no fault ${id}`), { status: 404 });
      deps.faults.remove(id);
      return new Response(null, { status: 204 });
    }
    case "PUT /rate-limit":
      return setRateLimit(deps, request);
    default:
      return Response.json(errorBody("not_found", `${route} is not a control endpoint`), { status: 404 });
  }
}
