/**
 * The simulator's one notion of time. Every simulated duration (server create, boot, delete) is
 * multiplied by `timeScale`, so tests run a 60 s boot in milliseconds and the demo in real seconds.
 */
export interface SimClock {
  /** Multiplier applied to simulated durations; 1 = realistic. */
  readonly timeScale: number;
  /** Wall-clock milliseconds since the epoch (timestamps in responses are real). */
  now(): number;
  /** Real milliseconds a simulated duration takes. */
  scaled(simulatedMs: number): number;
  /** Runs `fn` once `simulatedMs` (scaled) have passed, unless the clock is stopped first. */
  after(simulatedMs: number, fn: () => void): void;
  /** Cancels every pending timer; used when the simulator stops. */
  stop(): void;
}

export function createClock(timeScale: number): SimClock {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  return {
    timeScale,
    now: () => Date.now(),
    scaled: (simulatedMs) => simulatedMs * timeScale,
    after(simulatedMs, fn) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, simulatedMs * timeScale);
      timers.add(timer);
    },
    stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
