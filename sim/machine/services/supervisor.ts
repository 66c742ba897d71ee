import type { Sandbox } from "../sandbox/sandbox.ts";

/** Where layout.ts installs the service manager inside the box. */
const SUPERVISOR_PATH = "/opt/sim/lib/systemd-supervisor.sh";
/** The smallest time scale units run at: with 0, TimeoutStopSec= would SIGKILL before any graceful stop. */
const MIN_UNIT_TIME_SCALE = 0.001;
/** How much of the supervisor's stderr an unexpected exit reports, in bytes (the tail is what explains it). */
const STDERR_TAIL_BYTES = 4096;

/**
 * Starts the box's service manager (standing in for systemd as PID 1) for the machine's lifetime; unit
 * durations are multiplied by `timeScale`. It dies with the sandbox (`Sandbox.close`); an earlier exit is
 * reported to `onError`, after which systemctl start/stop fail as on a box whose systemd is gone.
 */
export function startServiceSupervisor(
  sandbox: Sandbox,
  timeScale: number,
  onError: (error: Error) => void,
  signal: AbortSignal,
): void {
  const scale = String(Math.max(timeScale, MIN_UNIT_TIME_SCALE));
  const child = sandbox.spawn(["/bin/bash", SUPERVISOR_PATH, scale]);
  let stderr = Buffer.alloc(0);
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = Buffer.concat([stderr, chunk]).subarray(-STDERR_TAIL_BYTES);
  });
  child.stdout.resume();
  // stdin stays open: the supervisor ends every process of the box when it closes (see supervisor.sh).
  signal.addEventListener("abort", () => child.stdin.end(), { once: true });
  child.once("error", (error) => onError(new Error(`the service manager did not start: ${error.message}`)));
  child.once("close", (code, killedBy) => {
    if (signal.aborted) return;
    const output = stderr.toString().trim();
    onError(
      new Error(`the service manager exited (${killedBy ?? `exit ${code}`}): ${output || "no output"}`),
    );
  });
}
