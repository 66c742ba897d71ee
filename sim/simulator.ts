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
import { type ApiHandlerDeps, type ApiProject, handleApiRequest } from "./api/handler.ts";
import { type RateLimitSettings, TokenBucket } from "./api/rate-limit.ts";
import { apiRoutes } from "./api/routes.ts";
import {
  createProjectWorld,
  createWorld,
  DEFAULT_PROJECT,
  DEFAULT_TIMINGS,
  type SimTimings,
  type World,
} from "./api/world.ts";
import { createClock } from "./clock.ts";
import type { Lab } from "./container/lab.ts";
import { type ControlDeps, handleControlRequest } from "./control.ts";
import { FaultRegistry, type SimFault } from "./faults.ts";
import { findFreePort } from "./free-port.ts";
import type { MachineHostOptions } from "./machine-contract.ts";
import { MACHINE_KINDS, type MachineChoice, type SimMachineHost } from "./machines.ts";
import { RequestLog, type SimRequestRecord } from "./request-log.ts";

export interface SimulatorOptions {
  /** TCP port of the API; 0 = ephemeral (default 0). */
  port?: number;
  /** Bearer token the API requires (default "sim-token"). */
  token?: string;
  /** Multiplies every simulated duration; 1 = realistic, 0.001 makes a 60 s boot take 60 ms (default 1). */
  timeScale?: number;
  /** Token-bucket capacity (default 3600), refill per second (default 1) and starting tokens (default: full). */
  rateLimit?: RateLimitSettings;
  /** Servers the default project may hold at once; beyond it POST /servers answers 403 resource_limit_exceeded (default: no limit). */
  serverLimit?: number;
  /**
   * More Hetzner projects beside the default one ("default", `token`): each a world of its own (servers,
   * SSH keys, firewalls, actions), with its own request budget (default 3600, 1/s) and server limit.
   */
  projects?: SimProjectOptions[];
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
   * systemd-nspawn; needs root, debootstrap, systemd-container), "machineless" (no machine: the simulator
   * phones home and answers SSH itself; fleet benchmarks only), or a function choosing per server.
   */
  machines?: MachineChoice;
  /** Where container machines' root filesystem is cached (default /var/cache/rachel-sim). */
  rootfsCacheDir?: string;
}

export interface SimProjectOptions {
  /** Unique among the projects; "default" is the one `token` opens. */
  name: string;
  /** Bearer token that opens this project; unique. */
  token: string;
  rateLimit?: RateLimitSettings;
  /** Servers it may hold at once (default: no limit). */
  serverLimit?: number;
}

export interface Simulator {
  /** API endpoint including /v1, e.g. "http://127.0.0.1:4010/v1" — what HCLOUD_ENDPOINT is set to. */
  readonly endpoint: string;
  /** Base URL without /v1; the control API lives under `${baseUrl}/_sim/`. */
  readonly baseUrl: string;
  /** Token of the default project. */
  readonly token: string;
  /** Every project, the default first: name, token and server limit (as configured at start; null: none). */
  readonly projects: readonly { name: string; token: string; serverLimit: number | null }[];
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
  /** Number of servers currently existing (not deleted) in a project (default: the default project). */
  serverCount(project?: string): number;
  /** Replaces a project's rate limit and refills its bucket to capacity. */
  setRateLimit(limit: RateLimitSettings, project?: string): void;
  /** Replaces a project's server limit (null: none); servers already beyond it stay. */
  setServerLimit(limit: number | null, project?: string): void;
  stop(): Promise<void>;
}

const port = z.number().int().min(0).max(65535);
const durationMs = z.number().finite().nonnegative();
const rateLimit = z.object({
  capacity: z.number().int().positive(),
  refillPerSecond: z.number().finite().nonnegative(),
  initialTokens: z.number().int().nonnegative().optional(),
});
const serverLimit = z.number().int().nonnegative();
const projectSchema = z.object({
  name: z.string().min(1),
  token: z.string().min(1),
  rateLimit: rateLimit.optional(),
  serverLimit: serverLimit.optional(),
});
const optionsSchema = z.object({
  port: port.optional(),
  token: z.string().min(1).optional(),
  timeScale: z.number().finite().nonnegative().optional(),
  rateLimit: rateLimit.optional(),
  serverLimit: serverLimit.optional(),
  projects: z.array(projectSchema).optional(),
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
  const projects = projectOptions(options);
  for (const key of ["name", "token"] as const) {
    const values = projects.map((p) => p[key]);
    const repeated = values.find((v, i) => values.indexOf(v) !== i);
    if (repeated !== undefined)
      throw new SimulatorOptionsError(
        `invalid simulator options: two projects share the ${key} '${repeated}'`,
      );
  }
}

/** The default project (from `token`, `rateLimit`, `serverLimit`), then `projects`. */
function projectOptions(options: SimulatorOptions): SimProjectOptions[] {
  const defaultProject: SimProjectOptions = {
    name: DEFAULT_PROJECT,
    token: options.token ?? "sim-token",
    rateLimit: options.rateLimit,
    serverLimit: options.serverLimit,
  };
  return [defaultProject, ...(options.projects ?? [])];
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
  const first = createWorld({ clock, timings, machines, faults, reportError }, options.serverLimit ?? null);
  const projects = projectOptions(options).map((p, i): ApiProject & { world: World } => {
    const world = i === 0 ? first : createProjectWorld(first, p.serverLimit ?? null);
    const bucket = new TokenBucket(p.rateLimit ?? HETZNER_RATE_LIMIT);
    return { name: p.name, token: p.token, world, bucket, routes: apiRoutes(world) };
  });
  const projectNamed = (name = DEFAULT_PROJECT) => {
    const found = projects.find((p) => p.name === name);
    if (!found) throw new Error(`simulator has no project '${name}'`);
    return found;
  };
  const log = new RequestLog();
  let server: ReturnType<typeof listen>;
  try {
    server = listen(
      options.port ?? 0,
      { projects, faults, log, now: clock.now },
      { machines, faults, log, bucketOf: (name) => projects.find((p) => p.name === name)?.bucket ?? null },
    );
  } catch (error) {
    await machines.close();
    throw error;
  }
  const baseUrl = `http://127.0.0.1:${server.port}`;

  return {
    endpoint: `${baseUrl}/v1`,
    baseUrl,
    token: projectNamed().token,
    projects: projects.map(({ name, token, world }) => ({ name, token, serverLimit: world.serverLimit })),
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
    serverCount: (name) => projectNamed(name).world.servers.size,
    setRateLimit: (limit, name) => projectNamed(name).bucket.reset(limit),
    setServerLimit(limit, name) {
      projectNamed(name).world.serverLimit = limit;
    },
    async stop() {
      clock.stop();
      await server.stop(true);
      await Promise.all(first.pending);
      await machines.close();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
