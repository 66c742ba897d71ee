import { describe, expect, test } from "bun:test";
import { createSessionHandover } from "../../remote/handover.ts";
import type { RemoteSession } from "../../remote/session.ts";

/** A session that only records whether it was closed: the hand-over never runs commands. */
function recordingSession(where: string): RemoteSession & { closed: boolean } {
  return {
    where,
    closed: false,
    exec: () => Promise.reject(new Error(`${where}: the hand-over ran a command`)),
    async close() {
      this.closed = true;
    },
  };
}

describe("createSessionHandover", () => {
  test("a handed-over session is taken once, under its key only, and stays open", async () => {
    const sessions = createSessionHandover();
    const session = recordingSession("a");
    sessions.track(session, "i1 10.0.0.1:22 key-a");
    await sessions.handOver(session);
    expect(sessions.take("i1 10.0.0.1:22 key-b")).toBeUndefined();
    expect(sessions.take("i1 10.0.0.1:22 key-a")).toBe(session);
    expect(sessions.take("i1 10.0.0.1:22 key-a")).toBeUndefined();
    expect(session.closed).toBe(false);
  });

  test("an untracked session is closed; a newer one for the same server closes the one waiting", async () => {
    const sessions = createSessionHandover();
    const untracked = recordingSession("untracked");
    await sessions.handOver(untracked);
    expect(untracked.closed).toBe(true);
    const [older, newer] = [recordingSession("older"), recordingSession("newer")];
    for (const session of [older, newer]) {
      sessions.track(session, "i1 key");
      await sessions.handOver(session);
    }
    expect(older.closed).toBe(true);
    expect(sessions.take("i1 key")).toBe(newer);
  });

  test("an unclaimed session is closed after the idle time", async () => {
    const sessions = createSessionHandover(20);
    const session = recordingSession("idle");
    sessions.track(session, "i1 key");
    await sessions.handOver(session);
    await Bun.sleep(60);
    expect(session.closed).toBe(true);
    expect(sessions.take("i1 key")).toBeUndefined();
  });

  test("two hand-overs (two workers in one process) share nothing", async () => {
    const [first, second] = [createSessionHandover(), createSessionHandover()];
    const session = recordingSession("first");
    first.track(session, "i1 key");
    await first.handOver(session);
    expect(second.take("i1 key")).toBeUndefined();
    expect(first.take("i1 key")).toBe(session);
  });
});
