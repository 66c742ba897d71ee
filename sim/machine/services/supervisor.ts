import type { Sandbox } from "../sandbox/sandbox.ts";

/** Where layout.ts installs the service manager inside the box. */
const SUPERVISOR_PATH = "/opt/sim/lib/systemd-supervisor.sh";
/**
 * The smallest time scale units run at: with 0 every RestartSec= and StartLimitIntervalSec= would be
 * 0, and an interval of 0 disables systemd's start limit, so a crash loop would never end.
 */
const MIN_UNIT_TIME_SCALE = 0.001;

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
  const child = sandbox.spawn(["/bin/sh", SUPERVISOR_PATH, scale]);
  const stderr: Buffer[] = [];
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  child.stdout.resume();
  // stdin stays open: the supervisor ends every process of the box when it closes (see supervisor.sh).
  signal.addEventListener("abort", () => child.stdin.end(), { once: true });
  child.once("error", (error) => onError(new Error(`the service manager did not start: ${error.message}`)));
  child.once("close", (code, killedBy) => {
    if (signal.aborted) return;
    const output = Buffer.concat(stderr).toString().trim();
    onError(
      new Error(`the service manager exited (${killedBy ?? `exit ${code}`}): ${output || "no output"}`),
    );
  });
}
