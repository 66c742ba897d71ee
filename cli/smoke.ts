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
import { createHetznerClient, type HetznerClient } from "../hetzner/index.ts";
import { createCustomerStore } from "../jobs/customers.ts";
import { brokerConnection, connectJobQueue } from "../jobs/queue.ts";
import { createRequests } from "../jobs/requests.ts";
import { findFreePort } from "../sim/free-port.ts";
import { fakeCustomerSecrets } from "./demo-customer.ts";
import { followOperation } from "./follow-operation.ts";
import { startLocalStack } from "./local-stack.ts";
import { formatPhaseTable, formatStepEvent } from "./operation-report.ts";
import { carryBundle, currentBundleFor } from "./smoke-bundle.ts";
import { findLabelled, removeLabelled, smokeSelector } from "./smoke-cleanup.ts";
import { gatherInstants } from "./smoke-instants.ts";
import { checkPrice, planSmokeStack, projectProblems, type SmokeStackPlan } from "./smoke-preflight.ts";
import { formatTimeline, provisionTimeline } from "./smoke-timeline.ts";

const USAGE = `usage: bun run smoke [--max-eur N] [--max-minutes N] [--clean]

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
  --clean           only delete what earlier smoke runs left (label smoke-run), then exit
  -h, --help        this text`;

/** The question: is a customer's assistant ready within this long of the request? */
const READY_TARGET_MS = 90_000;
/** Bound of the cleanup by label (server deletion takes Hetzner seconds). */
const CLEANUP_TIMEOUT_MS = 300_000;
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
  const runId = randomBytes(4).toString("hex");
  const dataDir = mkdtempSync(join(tmpdir(), `rachel-smoke-${runId}-`));
  try {
    const plan = planSmokeStack({ operatorEnv: process.env, runId, dataDir, ports: await distinctPorts() });
    if ("problems" in plan) throw new SmokeRefused(`cannot start:\n  ${plan.problems.join("\n  ")}`);
    const hetzner = createHetznerClient({
      endpoint: plan.config.hcloudEndpoint,
      token: plan.config.hcloudToken,
    });
    if (flags.clean) return await clean(hetzner, smokeSelector());
    await preflight(hetzner, plan, flags, dataDir);
    return await runAndClean(hetzner, plan, runId, flags.maxMinutes);
  } catch (err) {
    if (!(err instanceof SmokeRefused)) throw err;
    say(`smoke refused: ${err.message}`);
    return 3;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface Flags {
  maxEur: number;
  maxMinutes: number;
  clean: boolean;
}

function parseFlags(argv: string[]): Flags | number {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        "max-eur": { type: "string", default: "0.05" },
        "max-minutes": { type: "string", default: "15" },
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
    return { maxEur, maxMinutes, clean: values.clean };
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

/** Runs the provision; whatever happens, then deletes by label and proves nothing is left. */
async function runAndClean(hetzner: HetznerClient, plan: SmokeStackPlan, runId: string, maxMinutes: number) {
  const selector = smokeSelector(runId);
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) say(`(${signal}: still cleaning up ${selector}; it finishes on its own)`);
    else stop.abort(new Error(`interrupted (${signal})`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const wallClock = setTimeout(
    () => stop.abort(new Error(`wall-clock cap of ${maxMinutes} min reached`)),
    maxMinutes * 60_000,
  );
  const capWatch = watchServerCap(hetzner, selector, stop);
  say(`\nsmoke run ${runId}: everything it makes is labelled ${selector}`);
  let code = 1;
  try {
    await provisionAndDeprovision(plan, stop.signal);
    code = 0;
  } catch (err) {
    say(`\nsmoke failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(wallClock);
    clearInterval(capWatch);
    if (!stop.signal.aborted) stop.abort(new Error("finished"));
    code = Math.max(code, await clean(hetzner, selector));
  }
  return code;
}

async function provisionAndDeprovision(plan: SmokeStackPlan, signal: AbortSignal): Promise<void> {
  const recent: string[] = [];
  const withLogs = (err: unknown) =>
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
    throw withLogs(err);
  });
  const db = openDatabase(appDatabasePath(plan.config.dataDir));
  const queue = connectJobQueue({ ...brokerConnection(plan.config), db });
  const died = new AbortController();
  void stack.firstExit.then(({ service, code }) =>
    died.abort(new Error(`${service} exited with code ${code}`)),
  );
  const until = AbortSignal.any([signal, died.signal]);
  try {
    const sealer = createSealer(plan.config.secretsKeys);
    const customerId = `smoke-${randomBytes(4).toString("hex")}`;
    createCustomerStore({ db, sealer }).upsert(customerId, fakeCustomerSecrets("smoke"));
    const requests = createRequests({ db, queue });
    const provision = await requests.requestProvision(customerId);
    say(`customer ${customerId} (fake secrets), instance ${provision.instanceId}: provisioning …`);
    const follow = (operationId: string) =>
      followOperation(db, operationId, {
        timeoutMs: Number.MAX_SAFE_INTEGER,
        onStep: (row) => say(formatStepEvent(row)),
        signal: until,
      });
    const provisioned = await follow(provision.operationId);
    say(`\n${formatPhaseTable("provision steps", provisioned)}`);
    if (provisioned.status !== "succeeded") {
      throw new Error(
        `provision failed at ${provisioned.errorStep}: ${provisioned.errorMessage}\n${recent.join("\n")}`,
      );
    }
    const instants = await gatherInstants({
      db,
      sealer,
      hetzner: createHetznerClient({ endpoint: plan.config.hcloudEndpoint, token: plan.config.hcloudToken }),
      sshPort: plan.config.sshPort,
      operationId: provision.operationId,
      instanceId: provision.instanceId,
    });
    say(`\n${formatTimeline(provisionTimeline(instants), READY_TARGET_MS)}`);
    const deprovision = await requests.requestDeprovision(customerId);
    if (!deprovision) throw new Error(`no live instance to deprovision for ${customerId}`);
    say("\ndeprovisioning …");
    const deprovisioned = await follow(deprovision.operationId);
    say(`\n${formatPhaseTable("deprovision steps", deprovisioned)}`);
    if (deprovisioned.status !== "succeeded") {
      throw withLogs(`deprovision failed at ${deprovisioned.errorStep}: ${deprovisioned.errorMessage}`);
    }
  } finally {
    await stack.stop();
    await queue.close();
    db.$client.close();
  }
}

/** Deletes everything matching `selector` and reports; 0 when nothing is left, 1 otherwise. */
async function clean(hetzner: HetznerClient, selector: string): Promise<number> {
  say(`\ncleanup: deleting everything labelled ${selector} …`);
  try {
    const left = await removeLabelled(hetzner, selector, { timeoutMs: CLEANUP_TIMEOUT_MS, say });
    if (left.lines.length === 0) {
      say(`cleanup: nothing labelled ${selector} is left (servers 0, SSH keys 0, firewalls 0)`);
      return 0;
    }
    say(`cleanup: STILL LEFT (delete these in the Hetzner console):\n  ${left.lines.join("\n  ")}`);
  } catch (err) {
    say(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
    const left = await findLabelled(hetzner, selector).catch(() => null);
    if (left) say(`left:\n  ${left.lines.join("\n  ")}`);
    say(`run \`bun run smoke --clean\` to try again`);
  }
  return 1;
}

/** Aborts the run if Hetzner ever holds more than one server of it, or a second one appears. */
function watchServerCap(hetzner: HetznerClient, selector: string, stop: AbortController): Timer {
  const seen = new Set<number>();
  return setInterval(() => {
    hetzner.servers.listAll({ labelSelector: selector }).then(
      (servers) => {
        for (const server of servers) seen.add(server.id);
        if (seen.size > 1)
          stop.abort(new Error(`server cap: ${seen.size} servers were created, the cap is 1`));
      },
      () => undefined, // a failed check is retried on the next tick; the cleanup lists again anyway
    );
  }, SERVER_CAP_CHECK_MS);
}

async function distinctPorts(): Promise<[number, number, number]> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await findFreePort());
  const [a = 0, b = 0, c = 0] = ports;
  return [a, b, c];
}
