import { StepTimeoutError } from "../../jobs/errors.ts";

/**
 * Runs `work` with a signal that aborts on `timeoutMs` (reason StepTimeoutError) or when any of `signals`
 * aborts (their reason). The returned promise settles at the abort even if `work` ignores its signal.
 */
export async function runBounded<T>(
  name: string,
  timeoutMs: number,
  signals: readonly AbortSignal[],
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new StepTimeoutError(name, timeoutMs)), timeoutMs);
  const signal = AbortSignal.any([timeout.signal, ...signals]);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work(signal), aborted]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
