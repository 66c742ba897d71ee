import { SANDBOX_ROOT_USER, type Sandbox } from "../sandbox/sandbox.ts";

/** Where layout.ts installs the service manager inside the box. */
const SUPERVISOR_PATH = "/opt/sim/lib/systemd-supervisor.sh";
/** The smallest time scale units run at: with 0, TimeoutStopSec= would SIGKILL before any graceful stop. */
const MIN_UNIT_TIME_SCALE = 0.001;

/**
 * Starts the box's service manager (standing in for systemd as PID 1) for the machine's lifetime; unit
 * durations are multiplied by `timeScale`. It dies with the sandbox (`Sandbox.close`); an earlier exit is
 * reported to `onError` with its stderr, after which systemctl start/stop fail as on a box whose systemd is gone.
 */
export function startServiceSupervisor(
  sandbox: Sandbox,
  timeScale: number,
  onError: (error: Error) => void,
  signal: AbortSignal,
): void {
  const scale = String(Math.max(timeScale, MIN_UNIT_TIME_SCALE));
  const child = sandbox.startSession(["/bin/bash", SUPERVISOR_PATH, scale], SANDBOX_ROOT_USER);
  // stdin stays open: the supervisor ends every process of the box when it closes (see supervisor.sh).
  signal.addEventListener("abort", () => void Promise.resolve(child.stdin.end()).catch(() => undefined), {
    once: true,
  });
  void new Response(child.stdout).text();
  void Promise.all([new Response(child.stderr).text(), child.exited]).then(([stderr, code]) => {
    if (signal.aborted) return;
    const output = stderr.trim().slice(-4096) || "no output";
    onError(new Error(`the service manager exited (${child.signalCode ?? `exit ${code}`}): ${output}`));
  });
}
