import { raceAbort, sleep } from "../../../core/abort.ts";
import type { MachineSpec, MachineView } from "../../machine-contract.ts";
import type { MachineFaultBoard } from "../faults.ts";
import { applyFileOps, type FileOp } from "../sandbox/files.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import { type CloudConfig, type CloudPhoneHome, parseCloudConfig } from "./config.ts";
import { type Egress, openEgress } from "./egress.ts";
import { INSTANCE_DIR, planConfigFiles, RUNCMD_SCRIPT } from "./plan.ts";

/** Where cloud-init sends the output of its modules and of runcmd. */
const OUTPUT_LOG = "/var/log/cloud-init-output.log";
/** Where the box keeps cloud-init's state for the `cloud-init status` tool inside it. */
export const STATUS_FILE = "/run/sim-cloud-init/status";
/** Pause between phone_home tries as cloud-init's url_helper uses, unscaled, in ms. */
const PHONE_HOME_SPACING_MS = 3000;

export interface CloudInitContext {
  spec: MachineSpec;
  sandbox: Sandbox;
  /** OpenSSH public line of the host key, posted as `pub_key_ed25519`. */
  hostKeyLine: string;
  /** When the machine booted, or was due to (`performance.now()` base): the configured cloud-init time counts from there. */
  bootedAt: number;
  timeScale: number;
  /** Realistic, unscaled time before cloud-init reaches its final stage, in ms. */
  cloudInitMs: number;
  faults: MachineFaultBoard;
  /** The view's cloudInit object, updated in place as the run progresses. */
  status: MachineView["cloudInit"];
  signal: AbortSignal;
}

/**
 * Emulates one first boot: apply the cloud-config, run runcmd (plain /bin/sh, so it goes on past a failing
 * entry; its output appended to the output log), then phone home, then write boot-finished and the final
 * state (cloud-init writes them even after a failed module). Never rejects; failures become state `error`.
 * The configured cloud-init time includes the box's work, as on a real machine: phone_home goes out once it
 * has passed (or when the work ends, if that takes longer).
 */
export async function runCloudInit(context: CloudInitContext): Promise<void> {
  const { status, sandbox, spec } = context;
  status.state = "running";
  const finalStageAt = context.bootedAt + context.cloudInitMs * context.timeScale;
  let egress: Egress | null = null;
  try {
    const config = spec.userData === null ? null : parseCloudConfig(spec.userData);
    const failures: string[] = [];
    if (config !== null && spec.userData !== null) {
      const files = planConfigFiles(config, spec.userData);
      egress = await openEgressTo(context, config);
      const egressFiles = egress ? [egress.targetFile] : [];
      await applyFileOps(sandbox, [statusFile("running\n"), ...egressFiles, ...files]);
      if (config.runcmd.length > 0) {
        const run = [
          "/bin/sh",
          "-c",
          '"$1" >>"$2" 2>&1 </dev/null',
          "scripts_user",
          RUNCMD_SCRIPT,
          OUTPUT_LOG,
        ];
        const { exitCode } = await sandbox.run(run);
        if (exitCode !== 0)
          failures.push(
            `(scripts_user) Runparts: 1 failures (runcmd, exit ${exitCode}) in 1 attempted commands`,
          );
      }
      // The fault takes away the CLI the boot installed (the bundle's, linked at /usr/local/bin/claude).
      if (context.faults.claudeCliMissing(spec.serverId)) {
        await sandbox.runOrThrow("removing the CLI", ["rm", "-f", "/usr/local/bin/claude"]);
      }
    }
    await sleep(Math.max(0, finalStageAt - performance.now()), context.signal);
    if (config?.phone_home) await runPhoneHome(context, config.phone_home);
    const state = failures.length === 0 ? "done\n" : `error\n${failures.join("\n")}\n`;
    await applyFileOps(sandbox, [
      {
        kind: "write",
        path: `${INSTANCE_DIR}/boot-finished`,
        mode: "644",
        content: `${new Date().toISOString()}\n`,
      },
      statusFile(state),
    ]);
    context.signal.throwIfAborted();
    status.state = failures.length === 0 ? "done" : "error";
    if (failures.length > 0) status.error = `cloud-init modules failed: ${failures.join("; ")}`;
  } catch (error) {
    if (context.signal.aborted) return;
    status.state = "error";
    status.error = (error as Error).message;
    await applyFileOps(sandbox, [statusFile(`error\n${status.error}\n`)]).catch((statusError: Error) => {
      status.error = `${status.error}; status not recorded in the box: ${statusError.message}`;
    });
  } finally {
    if (egress !== null) keepForLifetime(egress, context.signal);
  }
}

/**
 * A server keeps its network after cloud-init (an upgrade fetches its bundle over it, months later): the
 * way out closes with the machine.
 */
function keepForLifetime(egress: Egress, lifetime: AbortSignal): void {
  if (lifetime.aborted) egress.close();
  else lifetime.addEventListener("abort", () => egress.close(), { once: true });
}

/** The way to the control plane (the phone_home URL's host), when the user-data names one. */
function openEgressTo(context: CloudInitContext, config: CloudConfig): Promise<Egress> | null {
  const url = config.phone_home?.url;
  if (url === undefined || !URL.canParse(url)) return null;
  return openEgress(context.sandbox.rootDir, new URL(url), context.spec.ipv4);
}

function statusFile(content: string): FileOp {
  return { kind: "write", path: STATUS_FILE, mode: "644", content };
}

async function runPhoneHome(context: CloudInitContext, settings: CloudPhoneHome): Promise<void> {
  const { spec, status, signal } = context;
  const url = settings.url.replaceAll(/\$\{INSTANCE_ID\}|\$INSTANCE_ID/g, String(spec.serverId));
  status.phoneHome.url = url;
  const plan = context.faults.phoneHomePlan(spec.serverId);
  // A box that never phones home looks, from outside, like cloud-init hung before its final stage.
  if (plan.never) await raceAbort(new Promise<never>(() => undefined), signal);
  await sleep(plan.delayMs, signal);
  const known: Record<string, string> = {
    pub_key_ed25519: `${context.hostKeyLine}\n`,
    instance_id: String(spec.serverId),
    hostname: spec.name,
    fqdn: spec.name,
  };
  // Like cloud-init, a requested key the machine lacks (it only has ed25519) is sent as "N/A".
  const fields = Object.fromEntries(settings.post.map((name) => [name, known[name] ?? "N/A"]));
  // Posted by the box's own curl, through its way out (egress.ts): from the machine's address, as cloud-init does.
  const form = Object.entries(fields).flatMap(([name, value]) => ["--data-urlencode", `${name}=${value}`]);
  const post = [
    "curl",
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-m",
    "10",
    "-A",
    "Cloud-Init/25.1",
    ...form,
    url,
  ];
  for (let attempt = 1; attempt <= settings.tries; attempt++) {
    const answer = Number((await context.sandbox.run(post)).stdout) || null;
    signal.throwIfAborted();
    status.phoneHome.attempts++;
    status.phoneHome.lastStatus = answer;
    if (answer !== null && answer >= 200 && answer < 400) {
      status.phoneHome.deliveredAt = new Date().toISOString();
      return;
    }
    if (attempt < settings.tries) await sleep(PHONE_HOME_SPACING_MS * context.timeScale, signal);
  }
}
