import type { MachineFaultBoard } from "../faults.ts";
import { writeInside } from "../sandbox/files.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import { sleep, untilAborted } from "../sleep.ts";
import type { MachineSpec, MachineView } from "../types.ts";
import {
  type CloudConfig,
  type CloudPhoneHome,
  decodeWriteFileContent,
  PHONE_HOME_FIELDS,
  parseCloudConfig,
} from "./config.ts";
import { phoneHome } from "./phone-home.ts";
import { createUsers } from "./users.ts";

/** Where the box keeps cloud-init's state for the `cloud-init status` tool inside it. */
export const STATUS_FILE = "/run/sim-cloud-init/status";
const INSTANCE_DIR = "/var/lib/cloud/instance";
/** Pause between phone_home tries as cloud-init's url_helper uses, unscaled, in ms. */
const PHONE_HOME_SPACING_MS = 3000;

export interface CloudInitContext {
  spec: MachineSpec;
  sandbox: Sandbox;
  /** OpenSSH public line of the host key, posted as `pub_key_ed25519`. */
  hostKeyLine: string;
  timeScale: number;
  /** Realistic, unscaled time before cloud-init reaches its final stage, in ms. */
  cloudInitMs: number;
  faults: MachineFaultBoard;
  /** The view's cloudInit object, updated in place as the run progresses. */
  status: MachineView["cloudInit"];
  signal: AbortSignal;
}

/** Emulates one first boot: apply the cloud-config, then phone home. Never rejects; failures become state `error`. */
export async function runCloudInit(context: CloudInitContext): Promise<void> {
  const { status, sandbox } = context;
  status.state = "running";
  try {
    await writeInside(sandbox, STATUS_FILE, "running\n");
    const config = context.spec.userData === null ? null : parseCloudConfig(context.spec.userData);
    await sleep(context.cloudInitMs * context.timeScale, context.signal);
    if (config !== null) {
      await applyConfig(context, config);
      if (config.phone_home) await runPhoneHome(context, config, config.phone_home);
    }
    if (context.signal.aborted) return;
    await writeInside(sandbox, `${INSTANCE_DIR}/boot-finished`, `${new Date().toISOString()}\n`);
    await writeInside(sandbox, STATUS_FILE, "done\n");
    status.state = "done";
  } catch (error) {
    if (context.signal.aborted) return;
    status.state = "error";
    status.error = (error as Error).message;
    await writeInside(sandbox, STATUS_FILE, `error\n${status.error}\n`).catch((statusError: Error) => {
      status.error = `${status.error}; status not recorded in the box: ${statusError.message}`;
    });
  }
}

/** The init/config stages: files, users, deferred files, and a record of what would need the network. */
async function applyConfig(context: CloudInitContext, config: CloudConfig): Promise<void> {
  const { sandbox } = context;
  await writeInside(sandbox, `${INSTANCE_DIR}/user-data.txt`, context.spec.userData ?? "", { mode: "600" });
  for (const file of config.write_files.filter((entry) => !entry.defer)) await writeConfigFile(sandbox, file);
  await createUsers(sandbox, config);
  for (const file of config.write_files.filter((entry) => entry.defer)) await writeConfigFile(sandbox, file);
  // The box is offline: packages and runcmd are recorded where cloud-init keeps them, not executed.
  const packages = config.packages.map((entry) => [entry].flat().join("=")).join("\n");
  await writeInside(
    sandbox,
    `${INSTANCE_DIR}/sim-packages-not-installed`,
    packages === "" ? "" : `${packages}\n`,
  );
  const runcmd = config.runcmd.map((command) =>
    typeof command === "string" ? command : command.map(shellQuote).join(" "),
  );
  await writeInside(
    sandbox,
    `${INSTANCE_DIR}/scripts/runcmd`,
    `#!/bin/sh\n${runcmd.map((line) => `${line}\n`).join("")}`,
    {
      mode: "700",
    },
  );
}

async function writeConfigFile(sandbox: Sandbox, file: CloudConfig["write_files"][number]): Promise<void> {
  await writeInside(sandbox, file.path, decodeWriteFileContent(file), {
    mode: file.permissions,
    append: file.append,
  });
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
  if (plan.never) await untilAborted(signal);
  await sleep(plan.delayMs, signal);
  if (signal.aborted) return;
  const hostname = config.hostname ?? spec.name;
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

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
