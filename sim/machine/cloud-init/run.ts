import { raceAbort, sleep } from "../../../core/abort.ts";
import type { MachineFaultBoard } from "../faults.ts";
import { applyFileOps, type FileOp, readFilesInside } from "../sandbox/files.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import type { MachineSpec, MachineView } from "../types.ts";
import {
  type CloudConfig,
  type CloudPhoneHome,
  configuredHostname,
  PHONE_HOME_FIELDS,
  parseCloudConfig,
} from "./config.ts";
import { type Egress, openEgress } from "./egress.ts";
import { type FinalStage, recordBootEnd, startFinalStage } from "./final-stage.ts";
import { phoneHome } from "./phone-home.ts";
import { planConfigFiles } from "./plan.ts";

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
 * Emulates one first boot: apply the cloud-config, run runcmd, then phone home. Never
 * rejects; failures become state `error` (a failed module, as in cloud-init, does not stop later ones).
 * The configured cloud-init time includes that work, as on a real machine: phone_home goes out once it
 * has passed (or when the work ends, if that takes longer), so the box's own CPU time is not added on top.
 */
export async function runCloudInit(context: CloudInitContext): Promise<void> {
  const { status, sandbox, spec } = context;
  status.state = "running";
  const finalStageAt = context.bootedAt + context.cloudInitMs * context.timeScale;
  let stage: FinalStage | null = null;
  let egress: Egress | null = null;
  try {
    const config = spec.userData === null ? null : parseCloudConfig(spec.userData);
    if (config !== null && spec.userData !== null) {
      const [passwd = "", group = ""] = await readFilesInside(sandbox, ["/etc/passwd", "/etc/group"]);
      // Nobody can log in before the users exist, so "running" needs recording only from here on.
      const files = planConfigFiles(config, { name: spec.name, userData: spec.userData }, { passwd, group });
      egress = await openEgressTo(context, config);
      const egressFiles = egress ? [egress.targetFile] : [];
      await applyFileOps(sandbox, [statusFile("running\n"), ...egressFiles, ...files]);
      stage = await startFinalStage(sandbox, config, STATUS_FILE);
      // The fault takes away the CLI the boot installed (the bundle's, linked at /usr/local/bin/claude).
      if (context.faults.claudeCliMissing(spec.serverId)) {
        await sandbox.runOrThrow("removing the CLI", ["rm", "-f", "/usr/local/bin/claude"]);
      }
      await sleep(Math.max(0, finalStageAt - performance.now()), context.signal);
      if (config.phone_home) await runPhoneHome(context, config, config.phone_home);
    } else {
      await sleep(Math.max(0, finalStageAt - performance.now()), context.signal);
    }
    context.signal.throwIfAborted();
    await finish(context, stage);
  } catch (error) {
    stage?.abandon();
    if (context.signal.aborted) return;
    status.state = "error";
    status.error = (error as Error).message;
    await applyFileOps(sandbox, [statusFile(`error\n${status.error}\n`)]).catch((statusError: Error) => {
      status.error = `${status.error}; status not recorded in the box: ${statusError.message}`;
    });
  } finally {
    if (egress !== null) await keepForLifetime(egress, context.signal);
  }
}

/**
 * A server keeps its network after cloud-init (an upgrade fetches its bundle over it, months later): the
 * way out closes with the machine.
 */
async function keepForLifetime(egress: Egress, lifetime: AbortSignal): Promise<void> {
  if (lifetime.aborted) return egress.close();
  lifetime.addEventListener("abort", () => void egress.close(), { once: true });
}

/** The way to the control plane (the phone_home URL's host), when the user-data names one. */
function openEgressTo(context: CloudInitContext, config: CloudConfig): Promise<Egress> | null {
  const url = config.phone_home?.url;
  if (url === undefined || !URL.canParse(url)) return null;
  return openEgress(context.sandbox.rootDir, new URL(url), context.spec.ipv4);
}

/**
 * Writes boot-finished (cloud-init writes it even after failed modules) and the final state: through the
 * final stage, which waited for it, or with a command of its own when there was none.
 */
async function finish(context: CloudInitContext, stage: FinalStage | null): Promise<void> {
  const reasons = (stage?.failed ?? []).map((entry) => `(${entry.module}) ${entry.reason}`);
  const state = reasons.length === 0 ? "done\n" : `error\n${reasons.join("\n")}\n`;
  const bootFinished = new Date().toISOString();
  if (stage === null) await recordBootEnd(context.sandbox, STATUS_FILE, bootFinished, state);
  else await stage.finish(bootFinished, state);
  if (reasons.length === 0) {
    context.status.state = "done";
    return;
  }
  context.status.state = "error";
  context.status.error = `cloud-init modules failed: ${reasons.join("; ")}`;
}

function statusFile(content: string): FileOp {
  return { kind: "write", path: STATUS_FILE, mode: "644", content };
}

async function runPhoneHome(
  context: CloudInitContext,
  config: CloudConfig,
  settings: CloudPhoneHome,
): Promise<void> {
  const { spec, status, signal } = context;
  const url = settings.url.replaceAll(/\$\{INSTANCE_ID\}|\$INSTANCE_ID/g, String(spec.serverId));
  status.phoneHome.url = url;
  const plan = context.faults.phoneHomePlan(spec.serverId);
  // A box that never phones home looks, from outside, like cloud-init hung before its final stage.
  if (plan.never) await raceAbort(new Promise<never>(() => undefined), signal);
  await sleep(plan.delayMs, signal);
  const hostname = configuredHostname(config, spec.name);
  const known: Record<string, string> = {
    pub_key_ed25519: `${context.hostKeyLine}\n`,
    instance_id: String(spec.serverId),
    hostname,
    fqdn: config.fqdn ?? hostname,
  };
  const names = settings.post === "all" ? PHONE_HOME_FIELDS : settings.post;
  // Like cloud-init, a requested key the machine lacks (it only has ed25519) is sent as "N/A".
  const fields = Object.fromEntries(names.map((name) => [name, known[name] ?? "N/A"]));
  const delivered = await phoneHome({
    url: new URL(url),
    fields,
    tries: settings.tries,
    spacingMs: PHONE_HOME_SPACING_MS * context.timeScale,
    localAddress: spec.ipv4,
    signal,
    onAttempt(httpStatus) {
      status.phoneHome.attempts++;
      status.phoneHome.lastStatus = httpStatus;
    },
  });
  if (delivered) status.phoneHome.deliveredAt = new Date().toISOString();
}
