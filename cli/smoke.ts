/**
 * `bun run smoke`: one provision of a throwaway customer on a real Hetzner project through the real stack
 * (broker, api, worker as child processes), its phase timings, then deprovision. Opt-in and never in CI:
 * it costs real money, so it prices the server first, refuses over `--max-eur`, creates at most one server,
 * deprovisions when `--max-minutes` runs out, and on every exit (success, error, Ctrl-C, timeout) deletes
 * whatever carries its `smoke-run=<id>` label and checks that nothing remains. See docs/smoke.md.
 * Exit codes: 0 ready and cleaned up, 1 the run or its cleanup failed, 2 wrong command line, 3 refused.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createSealer } from "../core/secrets.ts";
import { appDatabasePath, openDatabase } from "../db/index.ts";
import { type CustomerSecrets, createCustomerStore } from "../domain/customers.ts";
import { createRequests } from "../domain/requests.ts";
import { createHetznerClient, type HetznerClient, RateLimitBudget } from "../hetzner/index.ts";
import { brokerConnection, connectJobQueue } from "../queue/queue.ts";
import { findFreePort } from "../sim/free-port.ts";
import { followOperation } from "./follow-operation.ts";
import { startLocalStack } from "./local-stack.ts";
import { formatPhaseTable, formatStepEvent } from "./operation-report.ts";
import { carryBundle, currentBundleFor } from "./smoke-bundle.ts";
import { cleanUpAndReport, smokeSelector, watchServerCap } from "./smoke-cleanup.ts";
import { smokeCustomerSecrets } from "./smoke-customer.ts";
import { gatherInstants } from "./smoke-instants.ts";
import {
  checkPrice,
  planCleanup,
  planSmokeStack,
  projectProblems,
  type SmokeStackPlan,
} from "./smoke-preflight.ts";
import { formatTimeline, provisionTimeline } from "./smoke-timeline.ts";

const USAGE = `usage: bun run smoke [--max-eur N] [--max-minutes N] [--customer FILE] [--clean]

Provisions ONE server for a throwaway customer at the Hetzner project of HCLOUD_TOKEN (or HCLOUD_TOKEN_FILE;
HCLOUD_ENDPOINT optional, plain http only on loopback), prints where the time went, deprovisions, and removes
everything labelled smoke-run=<this run>. Costs real money: never run it in CI. See docs/smoke.md.

needs:  PUBLIC_BASE_URL    https URL the new server phones home to (e.g. Caddy on the control-plane box,
                           deploy/Caddyfile, forwarding to PUBLIC_API_PORT here)
        CONTROL_PLANE_IPS  this machine's public address(es): the firewall admits SSH only from them
        a current app bundle in DATA_DIR/bundles (default ./data; \`bun run bundle\` makes one)

options:
  --max-eur N       refuse to start when one server for --max-minutes could cost more (default 0.05)
  --max-minutes N   wall-clock cap; when it passes the run stops and everything is deleted (default 15)
  --customer FILE   a test bot's real secrets (JSON shaped like the PUT /v1/customers body); default fake
                    ones, which open nothing: an app that exits on Telegram's refusal then fails verify
  --clean           only delete what earlier smoke runs left (label smoke-run), then exit
  -h, --help        this text`;

/** The issue's question: is a customer's assistant ready within this long of the request? */
const READY_TARGET_MS = 90_000;
/** Service log lines kept to show when something fails. */
const KEPT_LOG_LINES = 30;
/** How often the server cap is checked at Hetzner while the run lasts. */
const SERVER_CAP_CHECK_MS = 5_000;

class SmokeRefused extends Error {
  override readonly name = "SmokeRefused";
}

const say = (line: string) => process.stdout.write(`${line}\n`);
process.exitCode = await main(process.argv.slice(2));

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (typeof flags === "number") return flags;
  if (flags.clean) return await cleanLeftovers();
  // From here on Ctrl-C never kills the process outright: it stops the run and the cleanup still runs.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) say(`(${signal}: still stopping and cleaning up; it finishes on its own)`);
    else stop.abort(new Error(`interrupted (${signal})`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const runId = randomBytes(4).toString("hex");
  const dataDir = mkdtempSync(join(tmpdir(), `rachel-smoke-${runId}-`));
  try {
    const plan = planSmokeStack({ operatorEnv: process.env, runId, dataDir, ports: await distinctPorts() });
    if ("problems" in plan) throw new SmokeRefused(`cannot start:\n  ${plan.problems.join("\n  ")}`);
    const hetzner = createHetznerClient({
      endpoint: plan.config.hcloudEndpoint,
      token: plan.config.hcloudProjects[0].token,
      budget: new RateLimitBudget(),
    });
    const secrets = await smokeCustomerSecrets(flags.customerFile).catch((err: Error) => {
      throw new SmokeRefused(err.message);
    });
    await preflight(hetzner, plan, flags, dataDir);
    if (stop.signal.aborted)
      throw new SmokeRefused(`${stop.signal.reason.message} before anything was created`);
    return await runAndClean(hetzner, plan, { runId, maxMinutes: flags.maxMinutes, stop, secrets });
  } catch (err) {
    if (!(err instanceof SmokeRefused)) throw err;
    say(`smoke refused: ${err.message}`);
    return 3;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `--clean`: needs only the Hetzner token (and endpoint). */
async function cleanLeftovers(): Promise<number> {
  const target = planCleanup(process.env);
  if ("problems" in target) {
    say(`smoke refused: cannot clean up:\n  ${target.problems.join("\n  ")}`);
    return 3;
  }
  return cleanUpAndReport(
    createHetznerClient({ ...target, budget: new RateLimitBudget() }),
    smokeSelector(),
    say,
  );
}

interface Flags {
  maxEur: number;
  maxMinutes: number;
  clean: boolean;
  customerFile: string | undefined;
}

function parseFlags(argv: string[]): Flags | number {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        "max-eur": { type: "string", default: "0.05" },
        "max-minutes": { type: "string", default: "15" },
        customer: { type: "string" },
        clean: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      say(USAGE);
      return 0;
    }
    const maxEur = positive("--max-eur", values["max-eur"]);
    const maxMinutes = positive("--max-minutes", values["max-minutes"]);
    return { maxEur, maxMinutes, clean: values.clean, customerFile: values.customer };
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    process.stderr.write(`smoke: ${err.message}; try --help\n`);
    return 2;
  }
}

function positive(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`${flag}: '${raw}' is not a positive number`);
  return value;
}

async function preflight(hetzner: HetznerClient, plan: SmokeStackPlan, flags: Flags, dataDir: string) {
  const { config } = plan;
  say(`Hetzner ${config.hcloudEndpoint}${plan.simulated ? " (loopback: a simulator)" : ""}`);
  const price = await checkPrice(hetzner, config, flags.maxMinutes).catch((err: unknown) => {
    throw new SmokeRefused(err instanceof Error ? err.message : String(err));
  });
  say(`server type ${price.line}`);
  if (price.worstCaseEur > flags.maxEur) {
    throw new SmokeRefused(
      `cost cap: up to €${price.worstCaseEur.toFixed(4)} exceeds --max-eur ${flags.maxEur}; raise it or pick a cheaper SERVER_TYPE`,
    );
  }
  const problems = await projectProblems(hetzner);
  if (problems.length > 0) throw new SmokeRefused(problems.join("\n"));
  const sourceDataDir = process.env.DATA_DIR || "./data";
  const bundle = await currentBundleFor(sourceDataDir, config.serverType);
  if ("missing" in bundle) throw new SmokeRefused(bundle.missing);
  await carryBundle(bundle.manifest, sourceDataDir, dataDir);
  const { manifest } = bundle;
  say(
    `app bundle ${manifest.id.slice(0, 12)} (${manifest.architecture}, app ${manifest.appCommit.slice(0, 12)}, ` +
      `bun ${manifest.bunVersion}, claude ${manifest.claudeCodeVersion}) from ${sourceDataDir}`,
  );
  say(`callbacks to ${config.publicBaseUrl}; SSH admitted from ${config.controlPlaneIps.join(", ")}`);
}

interface SmokeRun {
  runId: string;
  /** The throwaway customer's secrets. */
  secrets: CustomerSecrets;
  maxMinutes: number;
  /** Aborted by SIGINT/SIGTERM; the wall-clock cap and the server cap abort it too. */
  stop: AbortController;
}

/** Runs the provision; whatever happens, then deletes by label and proves nothing is left. */
async function runAndClean(hetzner: HetznerClient, plan: SmokeStackPlan, run: SmokeRun): Promise<number> {
  const { runId, maxMinutes, stop } = run;
  const selector = smokeSelector(runId);
  const maxMs = maxMinutes * 60_000;
  const wallClock = setTimeout(
    () => stop.abort(new Error(`wall-clock cap of ${maxMinutes} min reached`)),
    maxMs,
  );
  const capWatch = watchServerCap(hetzner, selector, stop, SERVER_CAP_CHECK_MS);
  say(`\nsmoke run ${runId}: everything it makes is labelled ${selector}`);
  let code = 1;
  try {
    await provisionAndDeprovision(hetzner, plan, run.secrets, { signal: stop.signal, maxMs });
    code = 0;
  } catch (err) {
    say(`\nsmoke failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(wallClock);
    clearInterval(capWatch);
    if (!stop.signal.aborted) stop.abort(new Error("finished"));
    code = Math.max(code, await cleanUpAndReport(hetzner, selector, say));
  }
  return code;
}

/** The stack under test and this process's handles on it; `fail` adds the services' last log lines. */
async function startSmokeStack(plan: SmokeStackPlan) {
  const recent: string[] = [];
  const fail = (err: unknown) =>
    new Error(
      `${err instanceof Error ? err.message : String(err)}\nlast service log lines:\n${recent.join("\n")}`,
    );
  const stack = await startLocalStack({
    env: plan.env,
    config: plan.config,
    onLine: (service, line) => {
      recent.push(`[${service}] ${line}`);
      if (recent.length > KEPT_LOG_LINES) recent.shift();
    },
  }).catch((err: unknown) => {
    throw fail(err);
  });
  const db = openDatabase(appDatabasePath(plan.config.dataDir));
  const queue = connectJobQueue({ ...brokerConnection(plan.config), db });
  const died = new AbortController();
  void stack.firstExit.then(({ service, code }) =>
    died.abort(new Error(`${service} exited with code ${code}`)),
  );
  const close = async () => {
    await stack.stop();
    await queue.close();
    db.$client.close();
  };
  return { db, queue, died: died.signal, fail, close };
}

async function provisionAndDeprovision(
  hetzner: HetznerClient,
  plan: SmokeStackPlan,
  secrets: CustomerSecrets,
  { signal, maxMs }: { signal: AbortSignal; maxMs: number },
): Promise<void> {
  const { db, queue, died, fail, close } = await startSmokeStack(plan);
  try {
    const sealer = createSealer(plan.config.secretsKeys);
    const customerId = `smoke-${randomBytes(4).toString("hex")}`;
    createCustomerStore({ db, sealer }).upsert(customerId, secrets);
    const requests = createRequests({ db, queue });
    const follow = async (title: string, operationId: string) => {
      const summary = await followOperation(db, operationId, {
        timeoutMs: maxMs,
        onStep: (row) => say(formatStepEvent(row)),
        signal: AbortSignal.any([signal, died]),
      });
      say(`\n${formatPhaseTable(`${title} steps`, summary)}`);
      if (summary.status !== "succeeded") {
        throw fail(`${title} failed at ${summary.errorStep}: ${summary.errorMessage}`);
      }
    };
    const provision = await requests.requestProvision(customerId);
    say(`customer ${customerId}, instance ${provision.instanceId}: provisioning …`);
    await follow("provision", provision.operationId);
    const { sshPort } = plan.config;
    const instants = await gatherInstants({ db, sealer, hetzner, sshPort, ...provision });
    say(`\n${formatTimeline(provisionTimeline(instants), READY_TARGET_MS)}`);
    const deprovision = await requests.requestDeprovision(customerId);
    if (!deprovision) throw new Error(`no live instance to deprovision for ${customerId}`);
    say("\ndeprovisioning …");
    await follow("deprovision", deprovision.operationId);
  } finally {
    await close();
  }
}

/** Three free loopback ports, all different and none the operator's PUBLIC_API_PORT. */
async function distinctPorts(): Promise<[number, number, number]> {
  const taken = Number(process.env.PUBLIC_API_PORT);
  const ports = new Set<number>();
  while (ports.size < 3) {
    const port = await findFreePort();
    if (port !== taken) ports.add(port);
  }
  const [a = 0, b = 0, c = 0] = ports;
  return [a, b, c];
}
