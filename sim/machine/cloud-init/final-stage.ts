import type { Sandbox } from "../sandbox/sandbox.ts";
import type { CloudConfig } from "./config.ts";
import { INSTANCE_DIR } from "./plan.ts";

/** Where cloud-init sends the output of its modules and of runcmd. */
export const OUTPUT_LOG = "/var/log/cloud-init-output.log";

/**
 * Runs the final-stage modules that execute things, in cloud-init's order: package_update_upgrade_install
 * (through the box's offline apt-get), then scripts_user (the runcmd script, which goes on past a failing
 * entry since it is plain /bin/sh). Output is appended to OUTPUT_LOG; each failed module prints its name
 * on stdout, which never reaches the log. Input is /dev/null, as for cloud-init under systemd.
 */
const FINAL_STAGE_SCRIPT = `log=$1 update=$2 upgrade=$3 runcmd=$4
shift 4
exec 3>&1 >>"$log" 2>&1 </dev/null
if [ "$update" = yes ] || [ "$upgrade" = yes ] || [ $# -gt 0 ]; then
  failed=no
  apt-get update -q || failed=yes
  if [ "$upgrade" = yes ]; then apt-get -y -q upgrade || failed=yes; fi
  if [ $# -gt 0 ]; then apt-get install -y -q "$@" || failed=yes; fi
  if [ "$failed" = yes ]; then echo "package_update_upgrade_install" >&3; fi
fi
if [ -f "$runcmd" ]; then
  "$runcmd"
  code=$?
  if [ "$code" != 0 ]; then echo "scripts_user $code" >&3; fi
fi
exit 0`;

/** A module that failed, named as cloud-init names it, with the reason `cloud-init status --long` shows. */
export interface FailedModule {
  module: string;
  reason: string;
}

/** Runs packages and runcmd inside the box; resolves to the modules that failed (an empty list when none). */
export async function runFinalStage(sandbox: Sandbox, config: CloudConfig): Promise<FailedModule[]> {
  const packages = config.packages.map((entry) => [entry].flat().join("="));
  const hasRuncmd = config.runcmd.length > 0;
  const result = await sandbox.run([
    "/bin/sh",
    "-c",
    FINAL_STAGE_SCRIPT,
    "final-stage",
    OUTPUT_LOG,
    config.package_update ? "yes" : "no",
    config.package_upgrade ? "yes" : "no",
    hasRuncmd ? `${INSTANCE_DIR}/scripts/runcmd` : "",
    ...packages,
  ]);
  if (result.exitCode !== 0) {
    return [{ module: "final_stage", reason: result.stderr.trim() || `exit ${result.exitCode}` }];
  }
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [module = line, code] = line.split(" ");
      return module === "scripts_user"
        ? { module, reason: `Runparts: 1 failures (runcmd, exit ${code}) in 1 attempted commands` }
        : { module, reason: "apt-get failed; see /var/log/cloud-init-output.log" };
    });
}
