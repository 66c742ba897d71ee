/**
 * Builds and serves one simulator: the world state, the /v1 API and the /_sim control API on one
 * Bun.serve listener bound to 127.0.0.1. The MachineHost factory is passed in (see index.ts).
 */
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { errorBody } from "./api/errors.ts";
import { type ApiHandlerDeps, handleApiRequest } from "./api/handler.ts";
import { type RateLimitSettings, TokenBucket } from "./api/rate-limit.ts";
import { apiRoutes } from "./api/routes.ts";
import { createWorld, DEFAULT_TIMINGS, type SimTimings } from "./api/world.ts";
import { createClock } from "./clock.ts";
import type { Lab } from "./container/lab.ts";
import { type ControlDeps, handleControlRequest } from "./control.ts";
import { FaultRegistry, type SimFault } from "./faults.ts";
import { findFreePort } from "./free-port.ts";
import type { MachineHostOptions } from "./machine/types.ts";
import { MACHINE_KINDS, type MachineChoice, type SimMachineHost } from "./machines.ts";
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
   * Realistic, unscaled durations in ms: createServerMs (default 75000), startServerMs (default 2000),
   * deleteServerMs (default 5000), cloudInitMs (default 10000); see DEFAULT_TIMINGS.
   */
  timings?: Partial<SimTimings>;
  /**
   * Directory for machine sandboxes (default a fresh directory in $TMPDIR when set, else in memory on
   * /dev/shm where the host has it, else in the temp dir; removed on stop).
   */
  dataDir?: string;
  /** SSH port every fake machine listens on, each on its own 127.x.y.z address (default: a free port). */
  sshPort?: number;
  /**
   * What backs each server: "stand-in" (default, emulated), "container" (a real Debian 13 boot under
   * systemd-nspawn; needs root, debootstrap, systemd-container), or a function choosing per server.
   */
  machines?: MachineChoice;
  /** Where container machines' root filesystem is cached (default /var/cache/rachel-sim). */
  rootfsCacheDir?: string;
}

export interface Simulator {
  /** API endpoint including /v1, e.g. "http://127.0.0.1:4010/v1" — what HCLOUD_ENDPOINT is set to. */
  readonly endpoint: string;
  /** Base URL without /v1; the control API lives under `${baseUrl}/_sim/`. */
  readonly baseUrl: string;
  readonly token: string;
  readonly sshPort: number;
  /** Multiplier of every simulated duration (1 = realistic). */
  readonly timeScale: number;
  /** The realistic, unscaled durations in effect (defaults merged with the options). */
  readonly timings: Readonly<SimTimings>;
  faults: { add(f: SimFault): string; remove(id: string): void; clear(): void; list(): SimFault[] };
  /** Every request served: method, path template (e.g. "/servers/{id}"), status, time. */
  requests(): SimRequestRecord[];
  clearRequests(): void;
  machines: SimMachineHost;
  /**
   * With container machines: the network namespace they live in. The stack under test runs inside it
   * (`lab.spawn`) and listens on `lab.gateway`; null with stand-in machines only.
   */
  readonly lab: Lab | null;
  /** Number of servers currently existing (not deleted). */
  serverCount(): number;
  /** Replaces the rate limit and refills the bucket to capacity. */
  setRateLimit(limit: RateLimitSettings): void;
  stop(): Promise<void>;
}

const port = z.number().int().min(0).max(65535);
const durationMs = z.number().finite().nonnegative();
const optionsSchema = z.object({
  port: port.optional(),
  token: z.string().min(1).optional(),
  timeScale: z.number().finite().nonnegative().optional(),
  rateLimit: z
    .object({ capacity: z.number().int().positive(), refillPerSecond: z.number().finite().nonnegative() })
    .optional(),
  timings: z
    .object({
      createServerMs: durationMs.optional(),
      startServerMs: durationMs.optional(),
      deleteServerMs: durationMs.optional(),
      cloudInitMs: durationMs.optional(),
    })
    .optional(),
  dataDir: z.string().min(1).optional(),
  sshPort: port.min(1).optional(),
  machines: z
    .union([z.enum(MACHINE_KINDS), z.custom<(spec: unknown) => unknown>((v) => typeof v === "function")])
    .optional(),
  rootfsCacheDir: z.string().min(1).optional(),
});

/** Bad SimulatorOptions; the message names every offending option. */
export class SimulatorOptionsError extends Error {
  override name = "SimulatorOptionsError";
}

function checkOptions(options: SimulatorOptions): void {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success)
    throw new SimulatorOptionsError(`invalid simulator options:\n${z.prettifyError(parsed.error)}`);
}

export type MachineHostFactory = (options: MachineHostOptions) => SimMachineHost | Promise<SimMachineHost>;

const SHARED_MEMORY_DIR = "/dev/shm";

const HETZNER_RATE_LIMIT: RateLimitSettings = { capacity: 3600, refillPerSecond: 1 };

function listen(port: number, api: ApiHandlerDeps, control: ControlDeps) {
  return Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname.startsWith("/v1/")) return handleApiRequest(api, request, pathname.slice("/v1".length));
      if (pathname.startsWith("/_sim/"))
        return handleControlRequest(control, request, pathname.slice("/_sim".length));
      return Response.json(errorBody("not_found", `${pathname} is neither /v1 nor /_sim`), { status: 404 });
    },
  });
}

/**
 * Where the machines' disks go by default: $TMPDIR when it is set, else tmpfs when the host has it. They are
 * scratch that dies with the simulator, and a box's first boot makes hundreds of directories and files: on a
 * disk file system each directory costs the host 60-175 µs of CPU (ext4 here), in memory about 2 µs, and
 * 50 machines booting at once share this host's cores.
 */
function scratchRoot(): string {
  if (process.env.TMPDIR) return tmpdir();
  try {
    accessSync(SHARED_MEMORY_DIR, constants.W_OK | constants.X_OK);
    return SHARED_MEMORY_DIR;
  } catch {
    return tmpdir();
  }
}

export async function launchSimulator(
  options: SimulatorOptions,
  createMachineHost: MachineHostFactory,
): Promise<Simulator> {
  checkOptions(options);
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(scratchRoot(), "hcloud-sim-")));
  try {
    return await serve(options, createMachineHost, dataDir, ownsDataDir);
  } catch (error) {
    // A simulator that never started leaves nothing behind (its disks live in memory by default).
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function serve(
  options: SimulatorOptions,
  createMachineHost: MachineHostFactory,
  dataDir: string,
  ownsDataDir: boolean,
): Promise<Simulator> {
  const sshPort = options.sshPort ?? (await findFreePort());
  const clock = createClock(options.timeScale ?? 1);
  const timings = { ...DEFAULT_TIMINGS, ...options.timings };
  const machines = await createMachineHost({
    dataDir,
    sshPort,
    timeScale: clock.timeScale,
    cloudInitMs: timings.cloudInitMs,
  });
  const faults = new FaultRegistry(machines);
  const reportError = (err: unknown) => console.error("simulator:", err);
  const world = createWorld({ clock, timings, machines, faults, reportError });
  const token = options.token ?? "sim-token";
  const bucket = new TokenBucket(options.rateLimit ?? HETZNER_RATE_LIMIT);
  const log = new RequestLog();
  const routes = apiRoutes(world);
  let server: ReturnType<typeof listen>;
  try {
    server = listen(
      options.port ?? 0,
      { token, routes, bucket, faults, log, now: clock.now },
      { machines, faults, log, bucket },
    );
  } catch (error) {
    await machines.close();
    throw error;
  }
  const baseUrl = `http://127.0.0.1:${server.port}`;

  return {
    endpoint: `${baseUrl}/v1`,
    baseUrl,
    token,
    sshPort,
    timeScale: clock.timeScale,
    timings: Object.freeze({ ...timings }),
    faults: {
      add: (f) => faults.add(f),
      remove: (id) => faults.remove(id),
      clear: () => faults.clear(),
      list: () => faults.list(),
    },
    requests: () => log.list(),
    clearRequests: () => log.clear(),
    machines,
    lab: machines.lab ?? null,
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
