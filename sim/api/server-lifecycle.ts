/**
 * The server lifecycle on the simulator clock: initializing → (create_server) → starting →
 * (start_server) → running, then the fake machine boots; delete → deleting → gone, name and IP freed.
 * As on a real cloud, the machine's disk is prepared while the server is initializing: create_server
 * ends once its configured time has passed and the disk is ready, whichever comes later. Each phase
 * counts from when the previous one was due (see clock.ts), so a timer that fired late on a busy host
 * does not push back the rest of the boot.
 */
import type { Machine } from "../machine-contract.ts";
import type { Action } from "./actions.ts";
import { lockedError, protectedError, SimApiError } from "./errors.ts";
import type { CreateServerInput } from "./server-input.ts";
import type { Server } from "./server-view.ts";
import { runInBackground, type World } from "./world.ts";

/** The error code failed actions carry when a fault made them fail. */
const FAILED = "action_failed";

export interface CreatedServer {
  server: Server;
  action: Action;
  nextActions: Action[];
}

function ipv6Of(id: number): string {
  return `2a01:4f8:c0c:${(id % 0xffff).toString(16)}::/64`;
}

/** Registers the server (reserving its name), creates its machine, and schedules create and start. */
export async function createServer(world: World, input: CreateServerInput): Promise<CreatedServer> {
  const id = world.ids.server++;
  const server: Server = {
    id,
    name: input.name,
    status: "initializing",
    created: new Date(world.clock.now()).toISOString(),
    labels: input.labels,
    serverType: input.serverType,
    image: input.image,
    datacenter: input.datacenter,
    ipv4: world.ips.allocate(),
    ipv6: ipv6Of(id),
    primaryIpIds: { ipv4: world.ids.primaryIp++, ipv6: world.ids.primaryIp++ },
    protection: { delete: false, rebuild: false },
    userData: input.userData,
    createFinished: false,
    machine: null,
  };
  world.servers.set(id, server);
  for (const firewall of input.firewalls) firewall.serverIds.add(id);
  try {
    server.machine = await createMachineOnFreeAddress(world, server);
    // A container machine lives at its lab address (10.A.B.C for pool address 127.A.B.C); the pool
    // releases by the last three octets, so either form frees the same slot.
    server.ipv4 = server.machine.view().address;
  } catch (err) {
    forget(world, server);
    world.reportError(err);
    throw new SimApiError(500, "server_error", "could not create the machine behind the server");
  }
  const resources = [{ id, type: "server" }];
  const createMs = world.timings.createServerMs;
  const action = world.actions.start("create_server", resources, world.clock.scaled(createMs));
  const nextActions = input.startAfterCreate
    ? [
        world.actions.start(
          "start_server",
          resources,
          world.clock.scaled(createMs + world.timings.startServerMs),
        ),
      ]
    : [];
  finishCreateWhenReady(world, server, action, nextActions[0]);
  return { server, action, nextActions };
}

/**
 * Calls finishCreate once createServerMs has passed and the machine's disk is ready (or failed), with the
 * later of the two moments: when create was due, or when the disk was ready.
 */
function finishCreateWhenReady(
  world: World,
  server: Server,
  create: Action,
  start: Action | undefined,
): void {
  let dueAt: number | null = null;
  let disk: { failure: Error | null; readyAt: number } | null = null;
  const finishIfBoth = () => {
    if (dueAt === null || disk === null) return;
    finishCreate(world, server, create, start, disk.failure, Math.max(dueAt, disk.readyAt));
  };
  world.clock.after(world.timings.createServerMs, (due) => {
    dueAt = due;
    finishIfBoth();
  });
  const prepared = (server.machine?.prepared ?? Promise.resolve()).then(
    () => null,
    (err: Error) => err,
  );
  runInBackground(
    world,
    prepared.then((failure) => {
      disk = { failure, readyAt: world.clock.monotonic() };
      finishIfBoth();
    }),
  );
}

/** Attempts before giving up on finding an address no other process holds on the SSH port. */
const ADDRESS_ATTEMPTS = 16;

function isAddressInUse(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "EADDRINUSE";
}

/**
 * Creates the server's machine. Another simulator on this host may already listen on the same
 * address and SSH port; such an address stays reserved (never handed out again) and the server
 * moves to the next free one, as a cloud skips an address it cannot use.
 */
async function createMachineOnFreeAddress(world: World, server: Server): Promise<Machine> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await world.machines.create({
        serverId: server.id,
        name: server.name,
        ipv4: server.ipv4,
        userData: server.userData,
        image: server.image.name,
      });
    } catch (err) {
      if (!isAddressInUse(err) || attempt >= ADDRESS_ATTEMPTS) throw err;
      server.ipv4 = world.ips.allocate();
    }
  }
}

function finishCreate(
  world: World,
  server: Server,
  create: Action,
  start: Action | undefined,
  diskFailure: Error | null,
  createdAt: number,
): void {
  server.createFinished = true;
  if (diskFailure) {
    world.reportError(diskFailure);
    world.actions.fail(create, FAILED, "create_server failed: the server's disk could not be prepared");
    if (start) world.actions.fail(start, FAILED, "server could not be created");
    server.status = "off";
    return;
  }
  if (world.faults.takeActionError("create_server")) {
    world.actions.fail(create, FAILED, "create_server failed (injected fault)");
    if (start) world.actions.fail(start, FAILED, "server could not be created");
    server.status = "off";
    return;
  }
  world.actions.succeed(create);
  if (!start) {
    server.status = "off";
    return;
  }
  server.status = "starting";
  world.clock.after(
    world.timings.startServerMs,
    (dueAt) => finishStart(world, server, start, dueAt),
    createdAt,
  );
}

function finishStart(world: World, server: Server, start: Action, dueAt: number): void {
  if (server.status === "deleting" || !world.servers.has(server.id)) {
    world.actions.fail(start, FAILED, "server was deleted while starting");
    return;
  }
  if (world.faults.takeActionError("start_server")) {
    world.actions.fail(start, FAILED, "start_server failed (injected fault)");
    server.status = "off";
    return;
  }
  world.actions.succeed(start);
  server.status = "running";
  server.machine?.boot(dueAt);
}

/** Answers 423 locked while the server is being created or deleted: no other action may start. */
export function assertUnlocked(server: Server): void {
  if (!server.createFinished || server.status === "deleting") throw lockedError();
}

/**
 * Starts delete_server; the server (and its name and address) goes away only when it finishes. A
 * delete-protected server answers 423 protected and stays as it is.
 */
export function deleteServer(world: World, server: Server): Action {
  assertUnlocked(server);
  if (server.protection.delete) throw protectedError("delete_server");
  const before = server.status;
  server.status = "deleting";
  const action = world.actions.start(
    "delete_server",
    [{ id: server.id, type: "server" }],
    world.clock.scaled(world.timings.deleteServerMs),
  );
  world.clock.after(world.timings.deleteServerMs, () => {
    if (world.faults.takeActionError("delete_server")) {
      world.actions.fail(action, FAILED, "delete_server failed (injected fault)");
      server.status = before;
      return;
    }
    runInBackground(world, finishDelete(world, server, action));
  });
  return action;
}

async function finishDelete(world: World, server: Server, action: Action): Promise<void> {
  // The machine must release its address before the pool can hand it to a new server.
  await server.machine?.destroy();
  forget(world, server);
  world.actions.succeed(action);
}

function forget(world: World, server: Server): void {
  world.servers.delete(server.id);
  world.ips.release(server.ipv4);
  for (const firewall of world.firewalls.values()) firewall.serverIds.delete(server.id);
}
