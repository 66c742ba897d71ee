/**
 * The whole service against the Hetzner simulator: an in-process simulator on loopback, then broker, api
 * and worker as child processes configured to use it, plus this process's own handles on the app database
 * and the broker. Used by `bun run demo`, the end-to-end tests and the provision benchmark.
 */
import { architectureOfServerType } from "../bundle/architecture.ts";
import { bundleStoreDir } from "../bundle/store.ts";
import { type Config, generateDevSecrets, loadConfig } from "../core/config.ts";
import { createSealer, type Sealer } from "../core/secrets.ts";
import { appDatabasePath, type Db, openDatabase } from "../db/index.ts";
import { brokerConnection, connectJobQueue, type JobQueue } from "../queue/queue.ts";
import { ensureStandInBundle } from "../sim/bundle/stand-in.ts";
import { ensureRootfs } from "../sim/container/rootfs.ts";
import { findFreePort } from "../sim/free-port.ts";
import {
  DEFAULT_TIMINGS,
  type Lab,
  type MachineChoice,
  type SimTimings,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from "../sim/index.ts";
import { type LocalService, type LocalStack, startLocalStack } from "./local-stack.ts";

export interface SimulatedStackOptions {
  /** DATA_DIR of the service (app and broker databases); must exist. */
  dataDir: string;
  /** The simulator's time scale: 1 = Hetzner's real durations, 0.05 = twenty times faster. */
  timeScale: number;
  /** Realistic, unscaled simulator durations (ms); default the simulator's. */
  simTimings?: Partial<SimTimings>;
  /** Variables added to (or overriding) every process's environment, e.g. VERIFY_SETTLE_MS. */
  env?: Record<string, string>;
  /** Receives every output line of broker, api and worker. */
  onLine: (service: LocalService, line: string) => void;
  /**
   * What backs each server (default stand-ins). With containers the root filesystem is built first if
   * needed, and broker, api and worker run inside the simulator's lab (their ports published on this
   * host's 127.0.0.1, the api also on the lab gateway, where the machines' callbacks come from).
   */
  machines?: MachineChoice;
  /** The simulated Hetzner projects: the default one's server limit and budget, and more projects. */
  simulator?: Pick<SimulatorOptions, "serverLimit" | "rateLimit" | "projects">;
}

export interface SimulatedStack {
  readonly sim: Simulator;
  readonly stack: LocalStack;
  /** The environment every service process got. */
  readonly env: Readonly<Record<string, string>>;
  readonly config: Config;
  readonly dataDir: string;
  /** The private API's URL (customers, ops), e.g. "http://127.0.0.1:41234"; `stack.apiUrls` has both. */
  readonly apiUrl: string;
  /** The API's public listener (webhooks; the simulated machines phone home here), e.g. "http://127.0.0.1:41235" */
  readonly publicApiUrl: string;
  /** This process's connection to the app database (the api migrated it). */
  readonly db: Db;
  readonly queue: JobQueue;
  readonly sealer: Sealer;
  /** Stops the services (worker and api, then broker), closes the handles, then stops the simulator; idempotent. */
  stop(): Promise<void>;
}

/** Hetzner's durations times this: a provision takes seconds instead of a minute or two (demo, `bun run dev`). */
export const COMPRESSED_TIME_SCALE = 0.05;

/** The provisioner's settings for a simulated world: short waits, loopback everywhere. */
export const SIMULATED_DEFAULTS = {
  /** Deadline of the cloud-init callback wait (ms); the simulator's boot takes seconds at demo scale. */
  CLOUD_INIT_TIMEOUT_MS: "60000",
  /** How long the unit must stay active (ms); short, since the simulated unit has nothing to crash on. */
  VERIFY_SETTLE_MS: "500",
  CONTROL_PLANE_IPS: "127.0.0.1/32",
} as const;

/** Starts the simulator and the three services wired to it; stops what started if anything fails. */
export async function startSimulatedStack(options: SimulatedStackOptions): Promise<SimulatedStack> {
  const emulatedOnly =
    options.machines === undefined || options.machines === "stand-in" || options.machines === "machineless";
  if (!emulatedOnly) await ensureRootfs();
  const sim = await startSimulator({
    ...options.simulator,
    timeScale: options.timeScale,
    ...(options.simTimings ? { timings: options.simTimings } : {}),
    ...(options.machines ? { machines: options.machines } : {}),
  });
  try {
    const env = await serviceEnvironment(sim, options);
    const config = loadConfig(env);
    // The simulated machines boot the stand-in app's bundle; production's comes from `bun run bundle`.
    await ensureStandInBundle(bundleStoreDir(config.dataDir), architectureOfServerType(config.serverType));
    const launcher = sim.lab ? await bridgeLab(sim, sim.lab, config) : undefined;
    const stack = await startLocalStack({ env, config, onLine: options.onLine, launcher });
    return connectHandles({ sim, stack, env, config, dataDir: options.dataDir });
  } catch (err) {
    await sim.stop();
    throw err;
  }
}

async function connectHandles(parts: {
  sim: Simulator;
  stack: LocalStack;
  env: Record<string, string>;
  config: Config;
  dataDir: string;
}): Promise<SimulatedStack> {
  const { sim, stack, config } = parts;
  const db = openDatabase(appDatabasePath(config.dataDir));
  const queue = connectJobQueue({ ...brokerConnection(config), db });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await stack.stop();
      await queue.close();
      db.$client.close();
      await sim.stop();
    })();
    return stopping;
  };
  return {
    ...parts,
    apiUrl: stack.apiUrls.private,
    publicApiUrl: stack.apiUrls.public,
    db,
    queue,
    sealer: createSealer(config.secretsKeys),
    stop,
  };
}

async function serviceEnvironment(
  sim: Simulator,
  options: SimulatedStackOptions,
): Promise<Record<string, string>> {
  const [apiPort, publicApiPort, brokerPort, brokerHttpPort, workerMetricsPort] = await distinctFreePorts(5);
  const inherited = ["PATH", "HOME", "TMPDIR"].flatMap((name) => {
    const value = process.env[name];
    return value === undefined ? [] : [[name, value] as const];
  });
  return {
    ...Object.fromEntries(inherited),
    ...generateDevSecrets(),
    ...SIMULATED_DEFAULTS,
    LOG_LEVEL: "info",
    DATA_DIR: options.dataDir,
    API_HOST: "127.0.0.1",
    API_PORT: String(apiPort),
    PUBLIC_API_HOST: "127.0.0.1",
    PUBLIC_API_PORT: String(publicApiPort),
    BROKER_HOST: "127.0.0.1",
    BROKER_PORT: String(brokerPort),
    BROKER_HTTP_PORT: String(brokerHttpPort),
    WORKER_METRICS_PORT: String(workerMetricsPort),
    PUBLIC_BASE_URL: `http://127.0.0.1:${publicApiPort}`,
    // The simulated machines phone home over plain http: there is no certificate authority to ask here.
    PUBLIC_BASE_URL_ALLOW_HTTP: "true",
    ...simulatorWiring(sim),
    ...(sim.lab ? labEnvironment(sim.lab, String(publicApiPort)) : {}),
    ...options.env,
  };
}

/**
 * What points the services at `sim`: its endpoint, its token (or, with several projects, each project with
 * its token and server limit), its machines' SSH port, its deletion time.
 */
export function simulatorWiring(sim: Simulator): Record<string, string> {
  const projects: Record<string, string> =
    sim.projects.length > 1 ? { HCLOUD_PROJECTS: JSON.stringify(sim.projects) } : { HCLOUD_TOKEN: sim.token };
  return {
    HCLOUD_ENDPOINT: sim.endpoint,
    ...projects,
    SSH_PORT: String(sim.sshPort),
    EXPECTED_SERVER_DELETION_MS: String(expectedDeletionMs(sim)),
  };
}

/** One line: the time scale and what it makes of the simulator's create, start, cloud-init and delete. */
export function describeTimeScale(timeScale: number): string {
  const scaled = (ms: number) => `${((ms * timeScale) / 1000).toFixed(2)} s`;
  const t = DEFAULT_TIMINGS;
  return (
    `simulator time scale ${timeScale}: create ${scaled(t.createServerMs)}, start ${scaled(t.startServerMs)}, ` +
    `cloud-init ${scaled(t.cloudInitMs)}, delete ${scaled(t.deleteServerMs)} (Hetzner: ${t.createServerMs / 1000} s, ` +
    `${t.startServerMs / 1000} s, ${t.cloudInitMs / 1000} s, ${t.deleteServerMs / 1000} s)`
  );
}

/**
 * In the lab the machines call back from their own addresses: the public api listens on every lab address
 * (the lab's loopback for this host's published port, the gateway for the machines) and the worker's
 * SSH comes from the gateway.
 */
function labEnvironment(lab: Lab, publicApiPort: string): Record<string, string> {
  return {
    PUBLIC_API_HOST: "0.0.0.0",
    PUBLIC_BASE_URL: `http://${lab.gateway}:${publicApiPort}`,
    CONTROL_PLANE_IPS: `${lab.gateway}/32`,
  };
}

/** Lets the services in the lab reach the simulator, and this host reach them; returns their launcher. */
async function bridgeLab(sim: Simulator, lab: Lab, config: Config): Promise<string[]> {
  await lab.exposeHostPorts([Number(new URL(sim.baseUrl).port)]);
  await lab.publishLabPorts(
    [
      config.apiPort,
      config.publicApiPort,
      config.brokerPort,
      config.brokerHttpPort,
      config.workerMetricsPort,
    ].filter((port) => port > 0),
  );
  return lab.command([]);
}

/** Margin over the scaled delete time for the simulator tearing the machine down before the action succeeds (ms). */
const MACHINE_TEARDOWN_MARGIN_MS = 250;

/** When the deprovision's one poll of delete_server should come: after the simulator's scaled deletion. */
function expectedDeletionMs(sim: Simulator): number {
  return Math.ceil(sim.timings.deleteServerMs * sim.timeScale) + MACHINE_TEARDOWN_MARGIN_MS;
}

/** `count` free loopback ports, all different (the kernel may hand out a just-released port again). */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await findFreePort());
  return [...ports];
}
