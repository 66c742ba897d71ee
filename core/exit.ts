/** Longest the event loop may keep running after the exit code is decided (ms). */
const DRAIN_TIMEOUT_MS = 2000;

/**
 * Ends the process with `code` once the event loop is idle, so the logger's buffered lines are written:
 * it writes asynchronously, and process.exit right after a fatal line dropped exactly that line (seen
 * in about 1 of 4 runs). If something still holds the loop after DRAIN_TIMEOUT_MS, exits anyway.
 * The caller must not start further work after calling it.
 */
export function exitWhenDrained(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), DRAIN_TIMEOUT_MS).unref();
}
