/**
 * The simulator's one notion of time. Every simulated duration (server create, boot, delete) is
 * multiplied by `timeScale`, so tests run a 60 s boot in milliseconds and the demo in real seconds.
 * A duration can count from when the previous phase was due rather than from when its timer fired: a
 * timer fires late when the host's cores are busy (50 machines booting at once on a laptop), and a chain
 * of phases each timed from the last one's actual end would carry every such delay into the next, where
 * a cloud's servers boot on cores of their own and keep their schedule.
 */
export interface SimClock {
  /** Multiplier applied to simulated durations; 1 = realistic. */
  readonly timeScale: number;
  /** Wall-clock milliseconds since the epoch (timestamps in responses are real). */
  now(): number;
  /** Real milliseconds a simulated duration takes. */
  scaled(simulatedMs: number): number;
  /** Monotonic milliseconds (`performance.now()`), the time base of `after`'s `from` and `dueAt`. */
  monotonic(): number;
  /**
   * Runs `fn` once `simulatedMs` (scaled) have passed since `from` (default: now), unless the clock is
   * stopped first; `fn` gets the moment it was due, on the `monotonic` base.
   */
  after(simulatedMs: number, fn: (dueAt: number) => void, from?: number): void;
  /** Cancels every pending timer; used when the simulator stops. */
  stop(): void;
}

export function createClock(timeScale: number): SimClock {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  return {
    timeScale,
    now: () => Date.now(),
    scaled: (simulatedMs) => simulatedMs * timeScale,
    monotonic: () => performance.now(),
    after(simulatedMs, fn, from = performance.now()) {
      const dueAt = from + simulatedMs * timeScale;
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          fn(dueAt);
        },
        Math.max(0, dueAt - performance.now()),
      );
      timers.add(timer);
    },
    stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
