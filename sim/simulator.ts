/**
 * Builds and serves one simulator: the world state, the /v1 API and the /_sim control API on one
 * Bun.serve listener bound to 127.0.0.1. The MachineHost factory is passed in (see index.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionStore, actionRoutes } from "./api/actions.ts";
import { catalogueRoutes } from "./api/catalogue.ts";
import { firewallRoutes } from "./api/firewalls.ts";
import { handleApiRequest } from "./api/handler.ts";
import { IpPool } from "./api/ip-pool.ts";
import { type RateLimitSettings, TokenBucket } from "./api/rate-limit.ts";
import { FIRST_SERVER_ID } from "./api/server-lifecycle.ts";
import { serverRoutes } from "./api/servers.ts";
import { sshKeyRoutes } from "./api/ssh-keys.ts";
import { DEFAULT_TIMINGS, type SimTimings, type World } from "./api/world.ts";
import { createClock } from "./clock.ts";
import { handleControlRequest } from "./control.ts";
import { FaultRegistry, type SimFault } from "./faults.ts";
import { findFreePort } from "./free-port.ts";
import type { MachineHost, MachineHostOptions } from "./machine/types.ts";
import { RequestLog, type SimRequestRecord } from "./request-log.ts";

export interface SimulatorOptions {
  /** TCP port of the API; 0 = ephemeral (default 0). */
  port?: number;
  /** Bearer token the API requires (default "sim-token"). */
  token?: string;
  /** Multiplies every simulated duration; 1 = realistic, 0.001 makes a 60 s boot take 60 ms (default 1). */
  timeScale?: number;
  /** Token-bucket capacity (default 3600) and refill per second (default 1). */
  rateLimit?: RateLimitSettings;
  /**
   * Realistic, unscaled durations in ms: createServerMs (default 10000), startServerMs (default 20000),
   * deleteServerMs (default 5000), cloudInitMs (default 40000).
   */
  timings?: Partial<SimTimings>;
  /** Directory for machine sandboxes (default a fresh temp dir, removed on stop). */
  dataDir?: string;
  /** SSH port every fake machine listens on, each on its own 127.x.y.z address (default: a free port). */
  sshPort?: number;
}

export interface Simulator {
  /** API endpoint including /v1, e.g. "http://127.0.0.1:4010/v1" — what HCLOUD_ENDPOINT is set to. */
  readonly endpoint: string;
  /** Base URL without /v1; the control API lives under `${baseUrl}/_sim/`. */
  readonly baseUrl: string;
  readonly token: string;
  readonly sshPort: number;
  faults: { add(f: SimFault): string; remove(id: string): void; clear(): void; list(): SimFault[] };
  /** Every request served: method, path template (e.g. "/servers/{id}"), status, time. */
  requests(): SimRequestRecord[];
  clearRequests(): void;
  machines: MachineHost;
  /** Number of servers currently existing (not deleted). */
  serverCount(): number;
  /** Replaces the rate limit and refills the bucket to capacity. */
  setRateLimit(limit: RateLimitSettings): void;
  stop(): Promise<void>;
}

export type MachineHostFactory = (options: MachineHostOptions) => MachineHost;

const HETZNER_RATE_LIMIT: RateLimitSettings = { capacity: 3600, refillPerSecond: 1 };

/** First ids per resource kind; distinct ranges make a client that mixes up ids fail loudly. */
const FIRST_IDS = { server: FIRST_SERVER_ID, sshKey: 2_000_001, firewall: 3_000_001 };

export async function launchSimulator(
  options: SimulatorOptions,
  createMachineHost: MachineHostFactory,
): Promise<Simulator> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "hcloud-sim-")));
  const sshPort = options.sshPort ?? (await findFreePort());
  const clock = createClock(options.timeScale ?? 1);
  const timings = { ...DEFAULT_TIMINGS, ...options.timings };
  const machines = createMachineHost({
    dataDir,
    sshPort,
    timeScale: clock.timeScale,
    cloudInitMs: timings.cloudInitMs,
  });
  const faults = new FaultRegistry(machines);
  const world: World = {
    clock,
    timings,
    actions: new ActionStore(clock),
    ips: new IpPool(),
    machines,
    faults,
    servers: new Map(),
    sshKeys: new Map(),
    firewalls: new Map(),
    ids: { ...FIRST_IDS },
    onBackgroundError: (err) => console.error("simulator background work failed", err),
    pending: new Set(),
  };
  const token = options.token ?? "sim-token";
  const bucket = new TokenBucket(options.rateLimit ?? HETZNER_RATE_LIMIT);
  const log = new RequestLog();
  const routes = [
    ...serverRoutes(world),
    ...actionRoutes(world.actions),
    ...sshKeyRoutes(world),
    ...firewallRoutes(world),
    ...catalogueRoutes(),
  ];
  const apiDeps = { token, routes, bucket, faults, log, now: clock.now };
  const controlDeps = { machines, faults, log, bucket };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname.startsWith("/v1/")) return handleApiRequest(apiDeps, request, pathname.slice(3));
      if (pathname.startsWith("/_sim/")) return handleControlRequest(controlDeps, request, pathname.slice(5));
      return Response.json(
        { error: { code: "not_found", message: "not found", details: null } },
        { status: 404 },
      );
    },
  });
  const baseUrl = `http://127.0.0.1:${server.port}`;

  return {
    endpoint: `${baseUrl}/v1`,
    baseUrl,
    token,
    sshPort,
    faults: {
      add: (f) => faults.add(f),
      remove: (id) => faults.remove(id),
      clear: () => faults.clear(),
      list: () => faults.list(),
    },
    requests: () => log.list(),
    clearRequests: () => log.clear(),
    machines,
    serverCount: () => world.servers.size,
    setRateLimit: (limit) => bucket.reset(limit),
    async stop() {
      clock.stop();
      await server.stop(true);
      await Promise.all(world.pending);
      await machines.close();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
