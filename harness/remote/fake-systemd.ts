/**
 * PATH shims for `systemctl` and `journalctl`, used ONLY because this test host has no systemd as PID 1
 * (real daemon-reload/start fail there). The shim runs a unit's ExecStart= in the background as its User=
 * in its WorkingDirectory=, honours ConditionPathExists=, reports `active` while the process lives and
 * `failed` once it exits, and keeps its output as the unit's journal. Every call is recorded.
 * Put `binDir` first on the sshd user's PATH (sessions and sudo).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FakeSystemd {
  binDir: string;
  /** Stands in for /etc/systemd/system (root-owned, 0755). */
  unitDir: string;
  /** Every systemctl call, e.g. "daemon-reload", "enable rachel8.service". */
  calls(): string[];
  /** Stops every unit process it started and removes its files. */
  cleanup(): Promise<void>;
}

const SYSTEMCTL = `#!/bin/sh
umask 022
state=@STATE@
units=@UNITS@
echo "$*" >>"$state/calls.log"
cmd=$1
shift
now=no
if [ "\${1:-}" = --now ]; then now=yes; shift; fi
unit=\${1:-}
run="$state/$unit"

running() { [ -f "$run/pid" ] && [ ! -f "$run/exit" ]; }
stop_unit() {
  if running; then kill -TERM -- "-$(cat "$run/pid")" 2>/dev/null || true; fi
  rm -f "$run/pid" "$run/exit"
}
launch() {
  [ -f "$units/$unit" ] || { echo "Unit $unit not found." >&2; exit 5; }
  cond=$(sed -n 's/^ConditionPathExists=//p' "$units/$unit")
  if [ -n "$cond" ] && [ ! -e "$cond" ]; then return 0; fi
  exec_start=$(sed -n 's/^ExecStart=//p' "$units/$unit")
  user=$(sed -n 's/^User=//p' "$units/$unit")
  workdir=$(sed -n 's/^WorkingDirectory=//p' "$units/$unit")
  mkdir -p "$run"
  setsid sh -c 'cd "\${3:-/}" || exit 200
    if [ -n "$4" ]; then runuser -u "$4" -- $1; else $1; fi >>"$2/journal" 2>&1
    echo $? >"$2/exit"' unit "$exec_start" "$run" "$workdir" "$user" </dev/null >/dev/null 2>&1 &
  echo $! >"$run/pid"
}

case $cmd in
daemon-reload) ;;
enable)
  [ -f "$units/$unit" ] || { echo "Unit file $unit does not exist." >&2; exit 1; }
  if [ "$now" = yes ]; then running || launch; fi ;;
start) running || launch ;;
restart) stop_unit; launch ;;
stop) stop_unit ;;
is-active)
  if running; then echo active; exit 0; fi
  if [ -f "$run/exit" ]; then echo failed; else echo inactive; fi
  exit 3 ;;
*) echo "fake systemctl: unsupported command $cmd" >&2; exit 1 ;;
esac
`;

const JOURNALCTL = `#!/bin/sh
state=@STATE@
unit=""
lines=10
while [ $# -gt 0 ]; do
  case $1 in
  -u) unit=$2; shift 2 ;;
  -n) lines=$2; shift 2 ;;
  *) shift ;;
  esac
done
tail -n "$lines" "$state/$unit/journal" 2>/dev/null || true
`;

export async function createFakeSystemd(): Promise<FakeSystemd> {
  const root = await mkdtemp(join(tmpdir(), "rachel-fake-systemd-"));
  await chmod(root, 0o755);
  const [binDir, unitDir, stateDir] = ["bin", "units", "state"].map((name) => join(root, name)) as [
    string,
    string,
    string,
  ];
  for (const dir of [binDir, unitDir, stateDir]) await mkdir(dir, { mode: 0o755 });
  const fill = (text: string) => text.replace("@STATE@", stateDir).replace("@UNITS@", unitDir);
  await writeFile(join(binDir, "systemctl"), fill(SYSTEMCTL), { mode: 0o755 });
  await writeFile(join(binDir, "journalctl"), fill(JOURNALCTL), { mode: 0o755 });
  const callsLog = join(stateDir, "calls.log");
  // is-active runs as the login user, everything else as root: both append here.
  await writeFile(callsLog, "", { mode: 0o666 });
  await chmod(callsLog, 0o666);
  return {
    binDir,
    unitDir,
    calls: () => (existsSync(callsLog) ? readFileSync(callsLog, "utf8").split("\n").filter(Boolean) : []),
    cleanup: async () => {
      for (const entry of readdirSync(stateDir, { withFileTypes: true })) {
        const pidFile = join(stateDir, entry.name, "pid");
        if (!entry.isDirectory() || !existsSync(pidFile) || existsSync(join(stateDir, entry.name, "exit")))
          continue;
        try {
          process.kill(-Number(readFileSync(pidFile, "utf8").trim()), "SIGTERM");
        } catch {
          // Already gone between the check and the kill: nothing left to stop.
        }
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
