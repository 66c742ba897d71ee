import { MachineError } from "../errors.ts";
import { applyFileOps } from "../sandbox/files.ts";
import type { Sandbox } from "../sandbox/sandbox.ts";
import type { CloudConfig } from "./config.ts";
import { INSTANCE_DIR } from "./plan.ts";

/** Where cloud-init sends the output of its modules and of runcmd. */
export const OUTPUT_LOG = "/var/log/cloud-init-output.log";
/** What cloud-init writes when its final stage is over (even after failed modules). */
export const BOOT_FINISHED = `${INSTANCE_DIR}/boot-finished`;
/** The line the final stage prints once its modules have run (each failed one printed before it). */
const MODULES_DONE = "modules-done";

/**
 * Runs scripts_user, the final-stage module that executes things (the runcmd script, plain /bin/sh, so it
 * goes on past a failing entry), its output appended to the output log, stdin /dev/null as under systemd; a
 * failure prints "scripts_user CODE" on stdout, which never reaches the log. Then, like cloud-init's own
 * process, it stays until the stage is over (phone_home has run): stdin brings boot-finished's line, then the
 * final state, which it writes; stdin closed before that means the boot was abandoned.
 */
const FINAL_STAGE_SCRIPT = `log=$1 runcmd=$2 finished=$3 status=$4
exec 4<&0
if [ -f "$runcmd" ]; then
  "$runcmd" >>"$log" 2>&1 </dev/null 4<&-
  code=$?
  if [ "$code" != 0 ]; then echo "scripts_user $code"; fi
fi
echo ${MODULES_DONE}
IFS= read -r finished_at <&4 || exit 0
umask 022
printf '%s\\n' "$finished_at" >"$finished" || exit 1
while IFS= read -r line; do printf '%s\\n' "$line"; done <&4 >"$status" || exit 1`;

/** A module that failed, named as cloud-init names it, with the reason `cloud-init status --long` shows. */
export interface FailedModule {
  module: string;
  reason: string;
}

/** The final stage once its modules have run, waiting to record the end of the boot. */
export interface FinalStage {
  /** The modules that failed (empty when none). */
  failed: FailedModule[];
  /** Writes `bootFinished` (one line) to BOOT_FINISHED and `state` to `statusFile`; rejects when it cannot. */
  finish(bootFinished: string, state: string): Promise<void>;
  /** Ends the stage without writing anything (the boot was abandoned). */
  abandon(): void;
}

/** Runs runcmd inside the box; resolves once it has run, to the stage that records the end of the boot in `statusFile`. */
export async function startFinalStage(
  sandbox: Sandbox,
  config: CloudConfig,
  statusFile: string,
): Promise<FinalStage> {
  const runcmd = config.runcmd.length > 0 ? `${INSTANCE_DIR}/scripts/runcmd` : "";
  const child = sandbox.spawn([
    "/bin/sh",
    "-c",
    FINAL_STAGE_SCRIPT,
    "final-stage",
    OUTPUT_LOG,
    runcmd,
    BOOT_FINISHED,
    statusFile,
  ]);
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", (error) =>
      reject(new MachineError("sandbox_unavailable", `cannot start the sandbox: ${error.message}`)),
    );
    child.once("close", (code) => resolve(code));
  });
  const modulesDone = new Promise<boolean>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.endsWith(`${MODULES_DONE}\n`)) resolve(true);
    });
    exited.then(
      () => resolve(false),
      () => resolve(false),
    );
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  if (!(await modulesDone)) {
    const code = await exited;
    const reason = stderr.trim() || `exit ${code}`;
    return {
      failed: [{ module: "final_stage", reason }],
      finish: (bootFinished, state) => recordBootEnd(sandbox, statusFile, bootFinished, state),
      abandon: () => undefined,
    };
  }
  return {
    failed: failedModules(stdout),
    async finish(bootFinished, state) {
      child.stdin.end(`${bootFinished}\n${state}`);
      const code = await exited;
      if (code !== 0) {
        const reason = stderr.trim() || `exit ${code}`;
        throw new MachineError("sandbox_command_failed", `cannot record the end of the boot: ${reason}`);
      }
    },
    abandon: () => child.stdin.end(),
  };
}

/** Writes boot-finished and the final state with a command of their own (when no final stage waits to). */
export function recordBootEnd(
  sandbox: Sandbox,
  statusFile: string,
  bootFinished: string,
  state: string,
): Promise<void> {
  return applyFileOps(sandbox, [
    { kind: "write", path: BOOT_FINISHED, mode: "644", content: `${bootFinished}\n` },
    { kind: "write", path: statusFile, mode: "644", content: state },
  ]);
}

/** The modules named on the stage's stdout before MODULES_DONE. */
function failedModules(stdout: string): FailedModule[] {
  return stdout
    .split("\n")
    .filter((line) => line !== "" && line !== MODULES_DONE)
    .map((line) => ({
      module: "scripts_user",
      reason: `Runparts: 1 failures (runcmd, exit ${line.split(" ")[1]}) in 1 attempted commands`,
    }));
}
