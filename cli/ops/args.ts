/** The `bun run ops` command line: commands, their arguments and options, and the usage errors. */
import { parseArgs } from "node:util";

/** A wrong command line; the message names the bad argument. Exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export type OpsCommand =
  | { name: "status" }
  | { name: "instances"; state: string | undefined; limit: string | undefined; cursor: string | undefined }
  | { name: "instance"; instanceId: string }
  | { name: "jobs"; limit: string | undefined; cursor: string | undefined }
  | { name: "retry"; id: string }
  | { name: "deprovision"; instanceId: string }
  | { name: "upgrade"; instanceId: string; bundle: string | undefined }
  | { name: "reconcile"; dryRun: boolean; apply: boolean }
  | { name: "bundles" }
  | RolloutCommand
  | { name: "restore"; snapshot: string | undefined };

/** `rollout <bundle> [--canary N] [--batch N] [--max-failures N]`, or `rollout status|pause|resume`. */
export type RolloutCommand =
  | {
      name: "rollout";
      action: "start";
      bundle: string;
      canary: number | undefined;
      batch: number | undefined;
      maxFailures: number | undefined;
    }
  | { name: "rollout"; action: "status" | "pause" | "resume" };

const ROLLOUT_ACTIONS = ["status", "pause", "resume"] as const;

export interface OpsInvocation {
  /** Print the API's JSON instead of tables. */
  json: boolean;
  /** null when --help was asked for. */
  command: OpsCommand | null;
}

export const USAGE = `usage: bun run ops <command> [--json]

commands:
  status                          instances by state, jobs by status, queue depths, failed jobs, last sweep
  instances [--state S]           instances, newest first (--limit N, 1-200, default 50; --cursor C for the next page)
  instance <instanceId>           one instance: operations, steps with attempts, durations and errors, timeline
  jobs --failed                   failed jobs with instance, step, error and when (--limit, --cursor)
  retry <instanceId|jobId>        re-run a failed job from its failed step (never a second server)
  deprovision <instanceId>        tear the instance's server down and shred its secrets
  upgrade <instanceId> [--bundle SHA]
                                  move the instance's server to the current bundle of its architecture (or
                                  the one named); rolls back to the old one if the app then fails its checks
  reconcile [--dry-run|--apply]   run a reconcile sweep now (--dry-run: only show what it would do;
                                  --apply: after a restore, release its hold on deletions first)
  bundles                         app bundles on the control plane: which is current, which instances run each
  rollout <bundle> [--canary N] [--batch N] [--max-failures N]
                                  upgrade every running instance of the bundle's architecture: N canary
                                  instances first (default 1), then batches of N (default 5); the bundle
                                  becomes current once the canary passed; halts when more than N upgrades
                                  fail (default 0), failed ones back on their old bundle
  rollout status|pause|resume     the newest rollout and its members; stop starting upgrades; start again
  restore [<snapshot>]            restore a backup into an empty DATA_DIR (runs here, not through the API):
                                  the newest local or off-box snapshot, or the one named (or a path to it)

options:
  --json                          print the API's JSON answer
  -h, --help                      this text

environment:
  OPS_API_URL                     the API's private listener (default http://API_HOST:API_PORT, i.e. http://127.0.0.1:8080)
  OPS_TOKEN or OPS_TOKEN_FILE     the operator token (default: OPS_TOKEN in DATA_DIR/dev.env, as bun run dev writes it)

exit codes: 0 done, 1 the API refused or failed (its code, message and requestId are printed),
            2 wrong command line or environment, 3 the API is unreachable`;

/** Options each command accepts besides --json and --help. */
const COMMAND_OPTIONS: Record<OpsCommand["name"], readonly string[]> = {
  status: [],
  instances: ["state", "limit", "cursor"],
  instance: [],
  jobs: ["failed", "limit", "cursor"],
  retry: [],
  deprovision: [],
  upgrade: ["bundle"],
  reconcile: ["dry-run", "apply"],
  bundles: [],
  rollout: ["canary", "batch", "max-failures"],
  restore: [],
};
const ARGUMENT_OF: Partial<Record<OpsCommand["name"], string>> = {
  instance: "<instanceId>",
  retry: "<instanceId|jobId>",
  deprovision: "<instanceId>",
  upgrade: "<instanceId>",
};

export function parseOpsArgs(argv: readonly string[]): OpsInvocation {
  const { values, positionals } = parseStrict(argv);
  if (values.help) return { json: values.json, command: null };
  const [name, ...rest] = positionals;
  if (name === undefined) throw new UsageError("missing <command>; try --help");
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"; try --help`);
  for (const option of [
    "state",
    "limit",
    "cursor",
    "failed",
    "dry-run",
    "apply",
    "bundle",
    "canary",
    "batch",
    "max-failures",
  ] as const) {
    if (values[option] !== undefined && !COMMAND_OPTIONS[name].includes(option)) {
      throw new UsageError(`--${option} is not an option of ${name}`);
    }
  }
  if (name === "restore") {
    if (rest.length > 1) throw new UsageError(`restore takes at most one <snapshot>, got ${rest.length}`);
    return { json: values.json, command: { name, snapshot: rest[0] } };
  }
  if (name === "rollout") return { json: values.json, command: rolloutCommand(rest, values) };
  const argument = ARGUMENT_OF[name];
  if (argument === undefined && rest.length > 0)
    throw new UsageError(`${name} takes no argument, got "${rest[0]}"`);
  if (argument !== undefined && rest.length !== 1) {
    throw new UsageError(`${name} needs exactly one ${argument}, got ${rest.length}`);
  }
  return { json: values.json, command: commandOf(name, rest[0] ?? "", values) };
}

type Values = ReturnType<typeof parseStrict>["values"];

function commandOf(name: OpsCommand["name"], argument: string, values: Values): OpsCommand {
  switch (name) {
    case "status":
      return { name };
    case "instances":
      return { name, state: values.state, limit: values.limit, cursor: values.cursor };
    case "instance":
      return { name, instanceId: argument };
    case "jobs":
      if (!values.failed) throw new UsageError("jobs needs --failed (the only list of jobs there is)");
      return { name, limit: values.limit, cursor: values.cursor };
    case "retry":
      return { name, id: argument };
    case "deprovision":
      return { name, instanceId: argument };
    case "upgrade":
      return { name, instanceId: argument, bundle: values.bundle };
    case "reconcile":
      if (values["dry-run"] && values.apply) throw new UsageError("--dry-run and --apply exclude each other");
      return { name, dryRun: values["dry-run"] === true, apply: values.apply === true };
    case "bundles":
      return { name };
    case "rollout":
      return rolloutCommand([argument], values);
    case "restore":
      return { name, snapshot: argument || undefined };
  }
}

function rolloutCommand(rest: readonly string[], values: Values): RolloutCommand {
  if (rest.length !== 1 || rest[0] === undefined) {
    throw new UsageError(
      `rollout needs exactly one <bundle> or one of ${ROLLOUT_ACTIONS.join("|")}, got ${rest.length}`,
    );
  }
  const [what] = rest;
  const action = ROLLOUT_ACTIONS.find((known) => known === what);
  if (action !== undefined) {
    for (const option of ["canary", "batch", "max-failures"] as const) {
      if (values[option] !== undefined)
        throw new UsageError(`--${option} is an option of rollout <bundle>, not of rollout ${action}`);
    }
    return { name: "rollout", action };
  }
  if (!/^[0-9a-f]{64}$/.test(what)) {
    throw new UsageError(
      `rollout <bundle> must be a bundle id (sha256, 64 lowercase hex digits; see bun run ops bundles) or one of ${ROLLOUT_ACTIONS.join("|")}, got "${what.slice(0, 80)}"`,
    );
  }
  return {
    name: "rollout",
    action: "start",
    bundle: what,
    canary: wholeNumber("canary", values.canary, 1),
    batch: wholeNumber("batch", values.batch, 1),
    maxFailures: wholeNumber("max-failures", values["max-failures"], 0),
  };
}

/** Most instances one wave may name: a fleet is counted in thousands at most (the API's bound too). */
const MAX_WAVE = 10_000;

function wholeNumber(option: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > MAX_WAVE) {
    throw new UsageError(
      `--${option} must be a whole number from ${min} to ${MAX_WAVE}, got "${value.slice(0, 40)}"`,
    );
  }
  return n;
}

function parseStrict(argv: readonly string[]) {
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        state: { type: "string" },
        limit: { type: "string" },
        cursor: { type: "string" },
        failed: { type: "boolean" },
        "dry-run": { type: "boolean" },
        apply: { type: "boolean" },
        bundle: { type: "string" },
        canary: { type: "string" },
        batch: { type: "string" },
        "max-failures": { type: "string" },
      },
    });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (err) {
    // node:util names the bad option in its message ("Unknown option '--x'"); that is what the operator needs.
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
}

function isCommandName(name: string): name is OpsCommand["name"] {
  return name in COMMAND_OPTIONS;
}
