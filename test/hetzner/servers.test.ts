import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  createHetznerClient,
  type HetznerApiError,
  isHetznerError,
  RateLimitBudget,
} from "../../hetzner/index.ts";
import { type Harness, serverInput, startHarness } from "./harness.ts";
import { startRecordingProxy } from "./recording-proxy.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.sim.stop();
});

describe("servers", () => {
  test("create returns the server, its create action and the start action that follows", async () => {
    const created = await h.client.servers.create({
      ...serverInput("create-basic"),
      labels: { owner: "rachel", instance: "i-1" },
      userData: "#cloud-config\n{}\n",
    });
    expect(created.server.name).toBe("create-basic");
    expect(created.server.status).toBe("initializing");
    expect(created.server.public_net.ipv4?.ip).toMatch(/^127\./);
    expect(created.action.command).toBe("create_server");
    expect(created.nextActions.map((a) => a.command)).toEqual(["start_server"]);
    await h.client.actions.waitFor([created.action.id, ...created.nextActions.map((a) => a.id)], {
      pollIntervalMs: 5,
    });
    expect((await h.client.servers.get(created.server.id))?.status).toBe("running");
  });

  test("get returns null for a server that does not exist", async () => {
    expect(await h.client.servers.get(987_654_321)).toBeNull();
  });

  test("delete returns null for a server that is already gone", async () => {
    expect(await h.client.servers.delete(987_654_321)).toBeNull();
  });

  test("list by label selector pages through 120 servers, 50 per request", async () => {
    const names = Array.from({ length: 120 }, (_, i) => `paged-${i}`);
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names.slice(i, i + 20).map((name) =>
          h.client.servers.create({
            ...serverInput(name),
            labels: { batch: "paging" },
            startAfterCreate: false,
          }),
        ),
      );
    }
    h.sim.clearRequests();
    const servers = await h.client.servers.listAll({ labelSelector: "batch=paging" });
    expect(servers.map((s) => s.name).sort()).toEqual([...names].sort());
    expect(h.served("GET", "/servers")).toBe(Math.ceil(120 / 50));
  });

  test("list by name finds exactly that server", async () => {
    const servers = await h.client.servers.listAll({ name: "paged-7" });
    expect(servers.map((s) => s.name)).toEqual(["paged-7"]);
  });

  test("a 32769-byte user_data is rejected as invalid_input naming the field, without a retry", async () => {
    h.sim.clearRequests();
    const err = await h.client.servers
      .create({ ...serverInput("too-much-user-data"), userData: "x".repeat(32_769) })
      .catch((e: unknown) => e);
    expect(isHetznerError(err, "invalid_input")).toBe(true);
    expect((err as HetznerApiError).status).toBe(422);
    expect((err as HetznerApiError).message).toContain("user_data");
    expect(h.served("POST", "/servers")).toBe(1);
  });

  test("a retried create whose first attempt went through meets uniqueness_error", async () => {
    const proxy = startRecordingProxy(h.sim.baseUrl);
    try {
      const client = createHetznerClient({
        endpoint: proxy.endpoint,
        token: h.sim.token,
        budget: new RateLimitBudget(),
        retry: { startingDelayMs: 1, maxDelayMs: 1 },
      });
      proxy.loseNextResponse("POST", "/v1/servers");
      const err = await client.servers.create(serverInput("retried-create")).catch((e: unknown) => e);
      expect(isHetznerError(err, "uniqueness_error")).toBe(true);
      expect(proxy.recorded.filter((r) => r.method === "POST").length).toBe(2);
      // The caller adopts the server its first attempt created.
      const [adopted] = await client.servers.listAll({ name: "retried-create" });
      expect(adopted?.name).toBe("retried-create");
    } finally {
      await proxy.stop();
    }
  });
});

describe("relabel and protection", () => {
  async function runningServer(name: string) {
    const created = await h.client.servers.create(serverInput(name));
    await h.client.actions.waitFor([created.action.id, ...created.nextActions.map((a) => a.id)], {
      pollIntervalMs: 5,
    });
    return created.server;
  }

  test("relabel replaces the labels, keeps the name, and label selectors follow", async () => {
    const server = await runningServer("relabel-me");
    await h.client.servers.relabel(server.id, { owner: "rachel", phase: "one" });
    const relabelled = await h.client.servers.relabel(server.id, { owner: "rachel", phase: "two" });
    expect(relabelled).toMatchObject({
      id: server.id,
      name: "relabel-me",
      labels: { owner: "rachel", phase: "two" },
    });
    const found = await h.client.servers.listAll({ labelSelector: "phase=two" });
    expect(found.map((s) => s.id)).toEqual([server.id]);
    expect(await h.client.servers.listAll({ labelSelector: "phase=one" })).toEqual([]);
  });

  test("relabel with an invalid label is a permanent invalid_input, tried once", async () => {
    const server = await runningServer("relabel-bad");
    h.sim.clearRequests();
    const error = await h.client.servers
      .relabel(server.id, { "hetzner.cloud/x": "y" })
      .catch((e: unknown) => e);
    expect(isHetznerError(error, "invalid_input")).toBe(true);
    expect(h.served("PUT", "/servers/{id}")).toBe(1);
  });

  test("a protected server refuses deletion with a permanent `protected` until protection is lifted", async () => {
    const server = await runningServer("protect-me");
    const on = await h.client.servers.changeProtection(server.id, { delete: true, rebuild: true });
    expect(on).toMatchObject({ command: "change_protection", status: "success" });
    expect((await h.client.servers.get(server.id))?.protection).toEqual({ delete: true, rebuild: true });
    h.sim.clearRequests();
    const refused = await h.client.servers.delete(server.id).catch((e: unknown) => e);
    expect(isHetznerError(refused, "protected")).toBe(true);
    expect((refused as HetznerApiError).status).toBe(423);
    expect(h.served("DELETE", "/servers/{id}")).toBe(1);
    expect((await h.client.servers.get(server.id))?.status).toBe("running");
    await h.client.servers.changeProtection(server.id, { delete: false, rebuild: false });
    const deletion = await h.client.servers.delete(server.id);
    expect(deletion?.command).toBe("delete_server");
  });
});
