/**
 * The simulator's in-memory state and the dependencies every resource handler shares. Each Hetzner
 * project is a world of its own (servers, keys, firewalls, actions, server limit); the clock, machines,
 * faults, address pool and id counters are the simulator's, shared by every project (ids are global on
 * Hetzner too).
 */
import type { SimClock } from "../clock.ts";
import type { FaultRegistry } from "../faults.ts";
import type { MachineHost } from "../machine-contract.ts";
import { ActionStore } from "./actions.ts";
import type { Firewall } from "./firewalls.ts";
import { IpPool } from "./ip-pool.ts";
import type { Server } from "./server-view.ts";
import type { SshKey } from "./ssh-keys.ts";

/** Name of the project the simulator's `token` option opens. */
export const DEFAULT_PROJECT = "default";

/** Realistic, unscaled durations of simulated work, in milliseconds (sources in sim/README.md). */
export interface SimTimings {
  /** From POST /servers until create_server succeeds (default 75000: Hetzner's "60 to 90 seconds on average"). */
  createServerMs: number;
  /** From create_server success until start_server succeeds and the server is running (default 2000). */
  startServerMs: number;
  /** From DELETE until delete_server succeeds and the name is free (default 5000). */
  deleteServerMs: number;
  /** The guest's own boot: power-on to cloud-init's final stage and phone_home (default 10000). */
  cloudInitMs: number;
}

export const DEFAULT_TIMINGS: SimTimings = {
  createServerMs: 75_000,
  startServerMs: 2_000,
  deleteServerMs: 5_000,
  cloudInitMs: 10_000,
};

export interface World {
  clock: SimClock;
  timings: SimTimings;
  actions: ActionStore;
  ips: IpPool;
  machines: MachineHost;
  faults: FaultRegistry;
  servers: Map<number, Server>;
  sshKeys: Map<number, SshKey>;
  firewalls: Map<number, Firewall>;
  /** Servers this project may hold at once (POST /servers beyond it: 403 resource_limit_exceeded); null = no limit. */
  serverLimit: number | null;
  /** Next id per resource kind; each kind has its own range, like Hetzner's. */
  ids: { server: number; sshKey: number; firewall: number; primaryIp: number };
  /** Where failures no request is waiting for (machine teardown, machine creation) are reported. */
  reportError(err: unknown): void;
  /** Background work still running; stop() waits for it. */
  pending: Set<Promise<unknown>>;
}

/** First ids per resource kind; distinct ranges (as on Hetzner) make a client that mixes up ids fail loudly. */
const FIRST_IDS = { server: 50_000_001, sshKey: 2_000_001, firewall: 3_000_001, primaryIp: 70_000_001 };

export interface WorldDeps {
  clock: SimClock;
  timings: SimTimings;
  machines: MachineHost;
  faults: FaultRegistry;
  reportError(err: unknown): void;
}

/** An empty world: no servers, keys or firewalls yet. */
export function createWorld(deps: WorldDeps, serverLimit: number | null = null): World {
  return {
    ...deps,
    actions: new ActionStore(deps.clock),
    ips: new IpPool(),
    servers: new Map(),
    sshKeys: new Map(),
    firewalls: new Map(),
    serverLimit,
    ids: { ...FIRST_IDS },
    pending: new Set(),
  };
}

/** Another project's empty world beside `first`: its own resources and limit, the simulator's shared parts. */
export function createProjectWorld(first: World, serverLimit: number | null): World {
  return {
    ...first,
    actions: new ActionStore(first.clock),
    servers: new Map(),
    sshKeys: new Map(),
    firewalls: new Map(),
    serverLimit,
  };
}

/** Tracks a background promise so shutdown can wait for it and its failure is reported. */
export function runInBackground(world: World, work: Promise<unknown>): void {
  const tracked = work.catch((err: unknown) => world.reportError(err));
  world.pending.add(tracked);
  void tracked.finally(() => world.pending.delete(tracked));
}
