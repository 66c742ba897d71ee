/**
 * `bun run sim [--port N] [--token T] [--time-scale X] [--ssh-port N] [--machines K] [--server-limit N]
 * [--project NAME:TOKEN[:LIMIT]]…`:
 * serves the simulator until SIGINT/SIGTERM. The first stdout line is the API endpoint, so scripts can read it.
 */
import { parseArgs } from "node:util";
import { exitOnHelp } from "../cli/usage.ts";
import { ContainerHostError } from "./container/errors.ts";
import { startSimulator } from "./index.ts";
import { MACHINE_KINDS, type MachineKind } from "./machines.ts";
import type { SimProjectOptions, SimulatorOptions } from "./simulator.ts";

/** The CLI's default API port (tests pass --port 0 for an ephemeral one). */
const DEFAULT_PORT = 4010;

const USAGE = `usage: bun run sim [--port N] [--token T] [--time-scale X] [--ssh-port N] [--machines stand-in|container|machineless]
                   [--server-limit N] [--project NAME:TOKEN[:LIMIT]]...
Serves a Hetzner Cloud API simulator on 127.0.0.1 until Ctrl-C; the first line it prints is the endpoint.
  --port N         API port (default ${DEFAULT_PORT}; 0 picks a free one)
  --token T        bearer token clients must send (default sim-token)
  --time-scale X   multiplies every simulated duration (default 1: Hetzner's 75 s create, 10 s boot)
  --ssh-port N     SSH port of every fake machine, each on its own 127.x address (default: a free port)
  --machines K     stand-in (default: fast fake machines), container (a real Debian 13 boot per server; root)
                   or machineless (no machine: callback and SSH answered in-process; fleet benchmarks only)
  --server-limit N servers the default project may hold (default: no limit; beyond: 403 resource_limit_exceeded)
  --project P      another Hetzner project, NAME:TOKEN[:LIMIT] (its own servers, keys, budget); repeatable
  -h, --help       this text`;

class UsageError extends Error {}

function numberFlag(
  name: string,
  raw: string | undefined,
  valid: (n: number) => boolean,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || !valid(value))
    throw new UsageError(`--${name}: '${raw}' is not a valid value`);
  return value;
}

const isPort = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
const isCount = (n: number) => Number.isInteger(n) && n >= 0;

/** `NAME:TOKEN[:LIMIT]` of one --project flag. */
function projectFlag(raw: string): SimProjectOptions {
  const [name = "", token = "", limit, ...rest] = raw.split(":");
  if (name === "" || token === "" || rest.length > 0)
    throw new UsageError(`--project: '${raw}' is not NAME:TOKEN[:LIMIT]`);
  return { name, token, serverLimit: numberFlag("project", limit, isCount) };
}

const CLI_OPTIONS = {
  port: { type: "string" },
  token: { type: "string" },
  "time-scale": { type: "string" },
  "ssh-port": { type: "string" },
  machines: { type: "string" },
  "server-limit": { type: "string" },
  project: { type: "string", multiple: true },
} as const;

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options: CLI_OPTIONS }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function parseCliOptions(argv: string[]): SimulatorOptions {
  const values = parseFlags(argv);
  if (values.token === "") throw new UsageError("--token: must not be empty");
  const machines = values.machines;
  if (machines !== undefined && !MACHINE_KINDS.includes(machines as MachineKind))
    throw new UsageError(`--machines: '${machines}' is not one of ${MACHINE_KINDS.join(", ")}`);
  return {
    port: numberFlag("port", values.port, isPort) ?? DEFAULT_PORT,
    token: values.token,
    timeScale: numberFlag("time-scale", values["time-scale"], (n) => n >= 0),
    sshPort: numberFlag("ssh-port", values["ssh-port"], (n) => isPort(n) && n > 0),
    machines: machines as MachineKind | undefined,
    serverLimit: numberFlag("server-limit", values["server-limit"], isCount),
    projects: values.project?.map(projectFlag),
  };
}

async function main(): Promise<void> {
  exitOnHelp(Bun.argv.slice(2), USAGE);
  let options: SimulatorOptions;
  try {
    options = parseCliOptions(Bun.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`sim: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  const sim = await startSimulator(options).catch((err: unknown) => {
    if (!(err instanceof ContainerHostError)) throw err;
    console.error(`sim: ${err.message}`);
    process.exit(1);
  });
  console.log(sim.endpoint);
  console.log(`Hetzner Cloud simulator ready (time scale ${options.timeScale ?? 1}).`);
  console.log(`  HCLOUD_ENDPOINT=${sim.endpoint}`);
  console.log("  HCLOUD_TOKEN=<the --token value; default sim-token>");
  console.log(`  machines' SSH port: ${sim.sshPort}; control API: ${sim.baseUrl}/_sim/`);
  if (sim.lab)
    console.log(
      `  container machines live in network namespace ${sim.lab.netns}; reach them with: ${sim.lab.command(["<cmd>"]).join(" ")}`,
    );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping the simulator`);
    sim.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error("sim: failed to stop cleanly", err);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

if (import.meta.main) await main();
