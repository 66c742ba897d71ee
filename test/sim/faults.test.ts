import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitFor, waitForStatus } from "./helpers.ts";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.001 });
});
afterEach(() => sim.faults.clear());
afterAll(() => sim.stop());

describe("request faults", () => {
  test("error answers the next `times` matching requests with the chosen Hetzner error", async () => {
    sim.faults.add({
      kind: "error",
      method: "get",
      path: "/servers/{id}",
      status: 503,
      code: "unavailable",
      times: 2,
    });
    const created = (await call(sim, "POST", "/servers", serverBody("fault-err"))).body.server;
    expect((await call(sim, "GET", "/servers")).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const reply = await call(sim, "GET", `/servers/${created.id}`);
      expect(reply.status).toBe(503);
      expect(reply.body.error).toEqual({
        code: "unavailable",
        message: "injected unavailable",
        details: null,
      });
      expect(reply.headers.get("RateLimit-Remaining")).not.toBeNull();
    }
    expect((await call(sim, "GET", `/servers/${created.id}`)).status).toBe(200);
    expect(sim.faults.list()).toEqual([]);
  });

  test("times: Infinity keeps failing until removed; remaining times are listed", async () => {
    const forever = sim.faults.add({
      kind: "error",
      status: 429,
      code: "rate_limit_exceeded",
      times: Infinity,
    });
    for (let i = 0; i < 3; i++) expect((await call(sim, "GET", "/locations")).status).toBe(429);
    sim.faults.remove(forever);
    expect((await call(sim, "GET", "/locations")).status).toBe(200);
    sim.faults.add({ kind: "error", path: "/locations", status: 500, code: "server_error", times: 3 });
    await call(sim, "GET", "/locations");
    expect(sim.faults.list()).toEqual([
      { kind: "error", path: "/locations", status: 500, code: "server_error", times: 2 },
    ]);
  });

  test("drop closes the connection without a response, once", async () => {
    sim.faults.add({ kind: "drop", path: "/locations" });
    sim.clearRequests();
    // A fresh connection: Bun's fetch silently retries a request whose reused keep-alive socket closes.
    const dropped = fetch(`${sim.endpoint}/locations`, {
      headers: { Authorization: `Bearer ${sim.token}` },
      keepalive: false,
    });
    await expect(dropped).rejects.toThrow(/ECONNRESET|closed/);
    expect((await call(sim, "GET", "/locations")).status).toBe(200);
    expect(sim.requests().map((r) => r.status)).toEqual([0, 200]);
  });
});

describe("capacity faults", () => {
  test("location_unavailable answers 412 resource_unavailable for that location only", async () => {
    const id = sim.faults.add({ kind: "location_unavailable", location: "nbg1" });
    const refused = await call(sim, "POST", "/servers", serverBody("loc-a"));
    expect(refused.status).toBe(412);
    expect(refused.body.error.code).toBe("resource_unavailable");
    expect((await call(sim, "POST", "/servers", serverBody("loc-a", { location: "fsn1" }))).status).toBe(201);
    sim.faults.remove(id);
    expect((await call(sim, "POST", "/servers", serverBody("loc-b"))).status).toBe(201);
  });

  test("server_limit answers 403 resource_limit_exceeded until removed", async () => {
    const id = sim.faults.add({ kind: "server_limit" });
    for (let i = 0; i < 2; i++) {
      const reply = await call(sim, "POST", "/servers", serverBody("limit-a"));
      expect(reply.status).toBe(403);
      expect(reply.body.error).toMatchObject({
        code: "resource_limit_exceeded",
        message: "server limit exceeded",
      });
    }
    sim.faults.remove(id);
    expect((await call(sim, "POST", "/servers", serverBody("limit-a"))).status).toBe(201);
  });
});

describe("action faults", () => {
  // A simulator of its own: an action fault hits the next action of that command on ANY server.
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ timeScale: 0.001 });
  });
  afterAll(() => sim.stop());

  /** Waits until the action has ended and returns it. */
  function settled(id: number) {
    return waitFor(`action ${id} to end`, async () => {
      const { action } = (await call(sim, "GET", `/actions/${id}`)).body;
      return action.status === "running" ? undefined : action;
    });
  }

  test("a failed create_server fails start_server too and leaves the server off, unbooted", async () => {
    sim.faults.add({ kind: "action_error", command: "create_server" });
    const { server, action, next_actions } = (await call(sim, "POST", "/servers", serverBody("act-create")))
      .body;
    expect(await settled(action.id)).toMatchObject({ status: "error", error: { code: "action_failed" } });
    expect((await settled(next_actions[0].id)).status).toBe("error");
    await waitForStatus(sim, server.id, "off");
    expect(sim.machines.get(server.id)?.view().cloudInit.state).toBe("pending");
  });

  test("a failed start_server leaves the server off", async () => {
    sim.faults.add({ kind: "action_error", command: "start_server" });
    const { server, action, next_actions } = (await call(sim, "POST", "/servers", serverBody("act-start")))
      .body;
    expect((await settled(action.id)).status).toBe("success");
    expect(await settled(next_actions[0].id)).toMatchObject({
      status: "error",
      error: { code: "action_failed" },
    });
    await waitForStatus(sim, server.id, "off");
  });

  test("a failed delete_server keeps the server, back in its previous status", async () => {
    const { server } = (await call(sim, "POST", "/servers", serverBody("act-delete"))).body;
    await waitForStatus(sim, server.id, "running");
    sim.faults.add({ kind: "action_error", command: "delete_server" });
    const { action } = (await call(sim, "DELETE", `/servers/${server.id}`)).body;
    expect((await settled(action.id)).status).toBe("error");
    expect((await call(sim, "GET", `/servers/${server.id}`)).body.server.status).toBe("running");
    expect(sim.machines.get(server.id)).toBeDefined();
  });
});

describe("machine faults", () => {
  test("are passed through to the MachineHost; remove re-arms the others, clear empties both", () => {
    const never = sim.faults.add({ kind: "phone_home_never", serverId: 7 });
    sim.faults.add({ kind: "phone_home_late", delayMs: 500 });
    sim.faults.add({ kind: "ssh_drop", times: 2 });
    sim.faults.add({ kind: "claude_cli_missing", serverId: 7 });
    expect(sim.machines.faults.list()).toHaveLength(4);
    sim.faults.remove(never);
    expect(sim.machines.faults.list().map((f) => f.kind)).toEqual([
      "phone_home_late",
      "ssh_drop",
      "claude_cli_missing",
    ]);
    sim.faults.clear();
    expect(sim.machines.faults.list()).toEqual([]);
    expect(sim.faults.list()).toEqual([]);
  });
});
