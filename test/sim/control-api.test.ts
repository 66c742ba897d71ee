import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitFor } from "./helpers.ts";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.001, timings: { cloudInitMs: 1_000 } });
});
afterAll(() => sim.stop());

async function control(method: string, path: string, body?: unknown) {
  const response = await fetch(`${sim.baseUrl}/_sim${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? null : JSON.parse(text) };
}

describe("request log", () => {
  test("records method, path template, status and time for every /v1 request", async () => {
    sim.clearRequests();
    const before = Date.now();
    const { server } = (await call(sim, "POST", "/servers", serverBody("log-1"))).body;
    await call(sim, "GET", `/servers/${server.id}`);
    await call(sim, "GET", `/servers/${server.id}/actions`);
    await call(sim, "GET", "/actions?id=1");
    await call(sim, "GET", "/servers/12345");
    await call(sim, "GET", "/servers", undefined, "wrong-token");
    const records = sim.requests();
    expect(records.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      "POST /servers 201",
      "GET /servers/{id} 200",
      "GET /servers/{id}/actions 200",
      "GET /actions 200",
      "GET /servers/{id} 404",
      "GET /servers 401",
    ]);
    expect(records.every((r) => r.at >= before && r.at <= Date.now())).toBe(true);
    expect((await control("GET", "/requests")).body).toEqual(records);
    expect((await control("DELETE", "/requests")).status).toBe(204);
    expect(sim.requests()).toEqual([]);
  });
});

describe("control API", () => {
  test("faults: add, list, remove one, clear; bad bodies are 400", async () => {
    const added = await control("POST", "/faults", {
      kind: "error",
      path: "/servers",
      status: 503,
      code: "unavailable",
      times: "Infinity",
    });
    expect(added.status).toBe(201);
    await control("POST", "/faults", { kind: "server_limit" });
    const listed = await control("GET", "/faults");
    expect(listed.body).toEqual([
      {
        id: added.body.id,
        kind: "error",
        path: "/servers",
        status: 503,
        code: "unavailable",
        times: "Infinity",
      },
      { id: expect.any(String), kind: "server_limit" },
    ]);
    expect(sim.faults.list()[0]).toMatchObject({ times: Infinity });
    expect((await call(sim, "GET", "/servers")).status).toBe(503);
    expect((await control("DELETE", `/faults/${added.body.id}`)).status).toBe(204);
    expect((await control("DELETE", `/faults/${added.body.id}`)).status).toBe(404);
    expect((await call(sim, "GET", "/servers")).status).toBe(200);
    expect((await control("DELETE", "/faults")).status).toBe(204);
    expect(sim.faults.list()).toEqual([]);
    expect((await control("POST", "/faults", { kind: "meteor" })).status).toBe(400);
    expect((await control("POST", "/faults", { kind: "error", status: 200, code: "x" })).status).toBe(400);
    const notJson = await fetch(`${sim.baseUrl}/_sim/faults`, { method: "POST", body: "{" });
    expect(notJson.status).toBe(400);
  });

  test("machines lists each server's fake machine with its address and user_data", async () => {
    const userData = "#cloud-config\nhostname: ctl-machine\n";
    const { server } = (
      await call(sim, "POST", "/servers", serverBody("ctl-machine", { user_data: userData }))
    ).body;
    const machine = await waitFor("the machine to be listed", async () => {
      const list = (await control("GET", "/machines")).body as { serverId: number }[];
      return list.find((m) => m.serverId === server.id);
    });
    expect(machine).toMatchObject({
      serverId: server.id,
      name: "ctl-machine",
      address: server.public_net.ipv4.ip,
      sshPort: sim.sshPort,
      userData,
    });
  });

  test("unknown control paths are 404; the API is not served outside /v1 and /_sim", async () => {
    expect((await control("GET", "/nope")).status).toBe(404);
    expect((await fetch(`${sim.baseUrl}/servers`)).status).toBe(404);
  });
});
