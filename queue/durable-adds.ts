/**
 * Group commit for durable broker adds. bunqueue batches concurrent adds into one PUSHB only when they are
 * not durable, and every add we make is durable, so without this each one is its own round trip and its own
 * broker write. An add with none in flight is sent at once (no added latency); adds arriving while one is in
 * flight wait for it and then go together as one durable bulk add.
 */
import type { JobOptions, Queue } from "bunqueue/client";

export interface DurableAdd<T> {
  name: string;
  data: T;
  opts: JobOptions;
}

interface Pending<T> {
  add: DurableAdd<T>;
  settle(err?: unknown): void;
}

/** Returns `add(job)`, which resolves once the broker has durably stored the job (alone or in a batch). */
export function durableAdder<T>(queue: Pick<Queue<T>, "addBulk">): (add: DurableAdd<T>) => Promise<void> {
  let waiting: Pending<T>[] = [];
  let inFlight = false;

  const flush = async (): Promise<void> => {
    inFlight = true;
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      try {
        await queue.addBulk(batch.map(({ add }) => ({ ...add, opts: { ...add.opts, durable: true } })));
        for (const pending of batch) pending.settle();
      } catch (err) {
        for (const pending of batch) pending.settle(err);
      }
    }
    inFlight = false;
  };

  return (add) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ add, settle: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!inFlight) void flush();
    });
}
