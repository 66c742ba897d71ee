/**
 * SSH sessions kept open between two steps of a job in this worker, so a provision (or a reconfigure) pays
 * one handshake, not two. Created once at worker start and injected: a session is filed under the server it
 * reaches and the host key it proved, taken at most once, and closed when no step takes it within idleMs.
 */
import type { RemoteSession } from "./session.ts";

export interface SessionHandover {
  /** The session handed over under `key` (instance, address and pinned key), removed; undefined when none. */
  take(key: string): RemoteSession | undefined;
  /** Remembers which server and host key a new session reached, so handOver can file it. */
  track(session: RemoteSession, key: string): void;
  /**
   * Keeps a healthy session open for the next step instead of closing it. A session already waiting for the
   * same server is closed; an untracked one is closed at once.
   */
  handOver(session: RemoteSession): Promise<void>;
}

/** How long a handed-over session waits for the next step before it is closed, in ms. */
const DEFAULT_IDLE_MS = 10_000;

export function createSessionHandover(idleMs = DEFAULT_IDLE_MS): SessionHandover {
  const keys = new WeakMap<RemoteSession, string>();
  const waiting = new Map<string, { session: RemoteSession; idle: ReturnType<typeof setTimeout> }>();
  return {
    take(key) {
      const entry = waiting.get(key);
      if (entry === undefined) return undefined;
      waiting.delete(key);
      clearTimeout(entry.idle);
      return entry.session;
    },
    track(session, key) {
      keys.set(session, key);
    },
    async handOver(session) {
      const key = keys.get(session);
      if (key === undefined) return session.close();
      const previous = waiting.get(key);
      if (previous !== undefined && previous.session !== session) {
        clearTimeout(previous.idle);
        await previous.session.close();
      }
      const idle = setTimeout(() => {
        waiting.delete(key);
        void session.close();
      }, idleMs);
      // An unclaimed session must not keep a stopping worker alive.
      idle.unref();
      waiting.set(key, { session, idle });
    },
  };
}
