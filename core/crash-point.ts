/**
 * The crash-point fault hook: with CRASH_AT=<point> (config.crashAt) a process kills itself with SIGKILL the
 * first time it reaches that point, so tests can prove every boundary survives a hard crash. Off (a no-op)
 * when unset; config refuses it against the real Hetzner API, so production never carries it.
 *
 * Points are named `<job>.<step>.<phase>`: `start` (attempt recorded, step not run), `ran` (the step's work
 * done, its result not yet recorded), `done` (result recorded), `undone` (a compensation's work done, not
 * yet recorded) and the points a step names inside itself; the sweep's are `sweep.<phase>`.
 */
import { writeSync } from "node:fs";

/** Called at each crash point; returns normally unless this is the armed point. */
export type CrashHook = (point: string) => void;

export const noCrash: CrashHook = () => undefined;

/** The hook for `crashAt` (absent: never crashes). */
export function createCrashHook(crashAt: string | undefined): CrashHook {
  if (crashAt === undefined) return noCrash;
  return (point) => {
    if (point !== crashAt) return;
    // Synchronous, so the line is out before the kill: the test reads it to know the point was reached.
    writeSync(
      2,
      `${JSON.stringify({ level: 60, msg: "crash point reached; killing this process", point })}\n`,
    );
    process.kill(process.pid, "SIGKILL");
  };
}
