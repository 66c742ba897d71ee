import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitFor, waitForGone, waitForStatus } from "./helpers.ts";

describe("server lifecycle", () => {
  let sim: Simulator;
  beforeAll(async () => {
    // Create takes 600 ms and delete 1 s real time, so "locked" and "initializing" are observable on a loaded machine.
    sim = await startSimulator({
      timeScale: 0.1,
      timings: { createServerMs: 6_000, startServerMs: 500, deleteServerMs: 10_000, cloudInitMs: 100 },
    });
  });
  afterAll(() => sim.stop());

  test("create → initializing with an IP, locked until created, then running and the machine boots", async () => {
    const created = await call(sim, "POST", "/servers", serverBody("life-1", { labels: { app: "rachel" } }));
    expect(created.status).toBe(201);
    const { server, action, next_actions } = created.body;
    expect(server.status).toBe("initializing");
    expect(server.public_net.ipv4.ip).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(action).toMatchObject({
      command: "create_server",
      status: "running",
      finished: null,
      error: null,
    });
    expect(action.resources).toEqual([{ id: server.id, type: "server" }]);
    expect(next_actions).toHaveLength(1);
    expect(next_actions[0]).toMatchObject({ command: "start_server", status: "running" });
    expect(sim.machines.get(server.id)?.view().address).toBe(server.public_net.ipv4.ip);

    const locked = await call(sim, "DELETE", `/servers/${server.id}`);
    expect(locked.status).toBe(423);
    expect(locked.body.error.code).toBe("locked");

    await waitForStatus(sim, server.id, "running");
    const polled = await call(sim, "GET", `/actions?id=${action.id}&id=${next_actions[0].id}&id=999`);
    expect(
      polled.body.actions.map((a: { status: string; progress: number }) => [a.status, a.progress]),
    ).toEqual([
      ["success", 100],
      ["success", 100],
    ]);
    expect(polled.body.actions[0].finished).not.toBeNull();
    await waitFor("the machine to boot", () =>
      sim.machines.get(server.id)?.view().cloudInit.state !== "pending" ? true : undefined,
    );
    const history = await call(sim, "GET", `/servers/${server.id}/actions?sort=id:desc`);
    expect(history.body.actions.map((a: { command: string }) => a.command)).toEqual([
      "start_server",
      "create_server",
    ]);
  });

  test("a deleted server's name stays taken until delete_server finishes; then its IP is reused", async () => {
    const first = (await call(sim, "POST", "/servers", serverBody("life-2"))).body.server;
    await waitForStatus(sim, first.id, "running");
    const deleted = await call(sim, "DELETE", `/servers/${first.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.action).toMatchObject({ command: "delete_server", status: "running" });
    expect((await call(sim, "GET", `/servers/${first.id}`)).body.server.status).toBe("deleting");
    expect((await call(sim, "DELETE", `/servers/${first.id}`)).status).toBe(423);
    const clash = await call(sim, "POST", "/servers", serverBody("life-2"));
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe("uniqueness_error");

    await waitForGone(sim, first.id);
    const action = await call(sim, "GET", `/actions/${deleted.body.action.id}`);
    expect(action.body.action.status).toBe("success");
    expect(sim.machines.get(first.id)).toBeUndefined();
    expect((await call(sim, "DELETE", `/servers/${first.id}`)).status).toBe(404);

    const again = await call(sim, "POST", "/servers", serverBody("life-2"));
    expect(again.status).toBe(201);
    expect(again.body.server.id).not.toBe(first.id);
    expect(again.body.server.public_net.ipv4.ip).toBe(first.public_net.ipv4.ip);
  });

  test("start_after_create=false leaves the server off with no next actions", async () => {
    const created = await call(sim, "POST", "/servers", serverBody("life-3", { start_after_create: false }));
    expect(created.body.next_actions).toEqual([]);
    await waitForStatus(sim, created.body.server.id, "off");
    expect(sim.machines.get(created.body.server.id)?.view().cloudInit.state).toBe("pending");
  });

  test("serverCount counts servers until their deletion finishes", async () => {
    const before = sim.serverCount();
    const { server } = (await call(sim, "POST", "/servers", serverBody("life-4"))).body;
    expect(sim.serverCount()).toBe(before + 1);
    await waitFor("create to finish", async () =>
      (await call(sim, "DELETE", `/servers/${server.id}`)).status === 200 ? true : undefined,
    );
    expect(sim.serverCount()).toBe(before + 1);
    await waitForGone(sim, server.id);
    expect(sim.serverCount()).toBe(before);
  });
});

describe("server addresses", () => {
  test("an address another process holds on the SSH port is skipped and never handed out", async () => {
    const sim = await startSimulator({ timeScale: 0.001 });
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(sim.sshPort, "127.1.0.1", resolve));
    try {
      const first = await call(sim, "POST", "/servers", serverBody("addr-1"));
      expect(first.status).toBe(201);
      expect(first.body.server.public_net.ipv4.ip).toBe("127.1.0.2");
      const second = await call(sim, "POST", "/servers", serverBody("addr-2"));
      expect(second.body.server.public_net.ipv4.ip).toBe("127.1.0.3");
    } finally {
      squatter.close();
      await sim.stop();
    }
  });
});
