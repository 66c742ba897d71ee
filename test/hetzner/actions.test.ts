import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { HetznerActionError, HetznerActionTimeoutError } from "../../hetzner/index.ts";
import { type Harness, serverInput, startHarness } from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.sim.stop();
});

const actionIds = (created: { action: { id: number }; nextActions: { id: number }[] }) => [
  created.action.id,
  ...created.nextActions.map((a) => a.id),
];

describe("actions", () => {
  test("get returns null for an action that does not exist", async () => {
    expect(await h.client.actions.get(987_654_321)).toBeNull();
  });

  test("getMany fetches several actions in one request", async () => {
    const a = await h.client.servers.create(serverInput("many-a"));
    const b = await h.client.servers.create(serverInput("many-b"));
    h.sim.clearRequests();
    const actions = await h.client.actions.getMany([...actionIds(a), ...actionIds(b)]);
    expect(actions.map((x) => x.id).sort()).toEqual([...actionIds(a), ...actionIds(b)].sort());
    expect(h.served("GET", "/actions")).toBe(1);
  });

  test("waitFor polls every pending action with one request per round until all succeed", async () => {
    const servers = await Promise.all(
      ["wait-a", "wait-b", "wait-c"].map((n) => h.client.servers.create(serverInput(n))),
    );
    h.sim.clearRequests();
    const ids = servers.flatMap(actionIds);
    const done = await h.client.actions.waitFor(ids, { pollIntervalMs: 5 });
    expect(done.map((a) => a.status)).toEqual(ids.map(() => "success"));
    expect(h.sim.requests().every((r) => r.method === "GET" && r.path === "/actions")).toBe(true);
  });

  test("an action that ends in error throws HetznerActionError with its code", async () => {
    h.sim.faults.add({ kind: "action_error", command: "start_server" });
    const created = await h.client.servers.create(serverInput("start-fails"));
    const err = await h.client.actions.waitFor(actionIds(created), { pollIntervalMs: 5 }).catch((e) => e);
    expect(err).toBeInstanceOf(HetznerActionError);
    expect((err as HetznerActionError).command).toBe("start_server");
    expect((err as HetznerActionError).code).toBe("action_failed");
  });

  test("waiting past the deadline says which actions were still running", async () => {
    const slow = await startHarness({ sim: { timeScale: 1 } });
    try {
      const created = await slow.client.servers.create(serverInput("slow"));
      const err = await slow.client.actions
        .waitFor(actionIds(created), { pollIntervalMs: 20, timeoutMs: 150 })
        .catch((e) => e);
      expect(err).toBeInstanceOf(HetznerActionTimeoutError);
      const pending = (err as HetznerActionTimeoutError).pending.map((p) => p.command);
      expect(pending).toEqual(["create_server", "start_server"]);
      expect((err as Error).message).toContain("create_server");
    } finally {
      await slow.sim.stop();
    }
  });

  test("an AbortSignal stops the waiter with the signal's reason", async () => {
    const created = await h.client.servers.create({ ...serverInput("abort-wait") });
    const reason = new Error("stop waiting");
    const err = await h.client.actions
      .waitFor(actionIds(created), { pollIntervalMs: 5, signal: AbortSignal.abort(reason) })
      .catch((e) => e);
    expect(err).toBe(reason);
  });
});
