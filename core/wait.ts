/** Thrown when a polled condition did not hold before its deadline; names what was awaited. */
export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
}

export interface PollOptions {
  /** Give up after this long (ms). */
  timeoutMs: number;
  /** Pause between checks (ms); default 25. */
  intervalMs?: number;
  /** What is awaited, for the timeout message (e.g. "api /readyz = 200"). */
  description: string;
  /** Stops early: polling rejects with this signal's reason. */
  signal?: AbortSignal;
}

/** Re-checks `condition` until it returns a value other than undefined/false, or the deadline passes. */
export async function pollUntil<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  opts: PollOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.description}`);
    }
    await Bun.sleep(opts.intervalMs ?? 25);
  }
}

/** True when `url` answers 2xx within `timeoutMs`; false on any other status or network error. */
export async function isHttpOk(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok;
  } catch (err) {
    if (err instanceof Error) return false;
    throw err;
  }
}
