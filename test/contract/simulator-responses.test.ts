/**
 * Every endpoint and status the client relies on, answered by a live simulator and validated against
 * the published Hetzner OpenAPI file (success and error paths).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { utils } from "ssh2";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitFor, waitForStatus } from "../sim/helpers.ts";
import { HetznerContract } from "../support/openapi.ts";

const contract = new HetznerContract();
let sim: Simulator;
/** Ids of resources created in beforeAll, read by the cases below. */
const ids = {
  running: 0,
  deleting: 0,
  failedCreateAction: 0,
  sshKey: 0,
  firewall: 0,
  busyFirewall: 0,
  action: 0,
  protectedServer: 0,
  primaryIp: 0,
};

function publicKey(): string {
  return utils.generateKeyPairSync("ed25519", { comment: "contract@sim" }).public;
}

beforeAll(async () => {
  // Deletion takes an hour of real time, so "contract-deleting" stays deleting for the whole file.
  sim = await startSimulator({ timeScale: 0.001, timings: { deleteServerMs: 3_600_000_000 } });
  ids.sshKey = (
    await call(sim, "POST", "/ssh_keys", { name: "contract-key", public_key: publicKey() })
  ).body.ssh_key.id;
  const busy = await call(sim, "POST", "/firewalls", { name: "contract-busy", rules: [] });
  ids.busyFirewall = busy.body.firewall.id;
  ids.firewall = (await call(sim, "POST", "/firewalls", { name: "contract-free" })).body.firewall.id;
  const running = await call(
    sim,
    "POST",
    "/servers",
    serverBody("contract-running", {
      ssh_keys: ["contract-key"],
      firewalls: [{ firewall: ids.busyFirewall }],
      labels: { suite: "contract" },
      user_data: "#cloud-config\n",
    }),
  );
  expect({ status: running.status, error: running.body.error }).toEqual({ status: 201, error: undefined });
  ids.running = running.body.server.id;
  ids.action = running.body.action.id;
  const deleting = (await call(sim, "POST", "/servers", serverBody("contract-deleting"))).body.server.id;
  ids.deleting = deleting;
  const protectedServer = (await call(sim, "POST", "/servers", serverBody("contract-protected"))).body.server;
  ids.protectedServer = protectedServer.id;
  ids.primaryIp = protectedServer.public_net.ipv4.id;
  await waitForStatus(sim, ids.protectedServer, "running");
  await waitForStatus(sim, ids.running, "running");
  await waitForStatus(sim, deleting, "running");
  await call(sim, "DELETE", `/servers/${deleting}`);
  sim.faults.add({ kind: "action_error", command: "create_server" });
  const failed = (await call(sim, "POST", "/servers", serverBody("contract-failed"))).body;
  ids.failedCreateAction = failed.action.id;
  await waitForStatus(sim, failed.server.id, "off");
});
afterAll(() => sim.stop());

interface Case {
  method: "GET" | "POST" | "PUT" | "DELETE";
  template: string;
  path: () => string;
  status: number;
  body?: () => unknown;
  /** The error envelope's `error.code`, asserted for error cases that set it. */
  code?: string;
  /** Token to send instead of the simulator's. */
  token?: string;
  /** Arms a fault before the request (the fault is cleared afterwards). */
  fault?: Parameters<Simulator["faults"]["add"]>[0];
}

const cases: [string, Case][] = [
  [
    "list servers",
    {
      method: "GET",
      template: "/servers",
      path: () => "/servers?label_selector=suite%3Dcontract",
      status: 200,
    },
  ],
  [
    "list servers with every status",
    { method: "GET", template: "/servers", path: () => "/servers?sort=id", status: 200 },
  ],
  [
    "list servers, bad selector",
    { method: "GET", template: "/servers", path: () => "/servers?label_selector=a%20in", status: 422 },
  ],
  [
    "list servers, bad token",
    { method: "GET", template: "/servers", path: () => "/servers", status: 401, token: "wrong" },
  ],
  [
    "create server",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 201,
      body: () => serverBody("contract-new", { ssh_keys: [ids.sshKey] }),
    },
  ],
  [
    "create server, catalogue by id (JSON numbers)",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 201,
      body: () => serverBody("contract-ids", { server_type: 114, image: 161547269, location: 2 }),
    },
  ],
  [
    "create server, catalogue by id (strings), datacenter",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 201,
      body: () =>
        serverBody("contract-id-strings", {
          server_type: "114",
          image: "161547269",
          location: undefined,
          datacenter: "2",
        }),
    },
  ],
  [
    "create server, unknown image id",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 422,
      code: "invalid_input",
      body: () => serverBody("contract-no-image", { image: 1 }),
    },
  ],
  [
    "create server, root password",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 201,
      body: () => serverBody("contract-pw", { start_after_create: false }),
    },
  ],
  [
    "create server, taken name",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 409,
      body: () => serverBody("contract-running"),
    },
  ],
  [
    "create server, long user_data",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 422,
      body: () => serverBody("contract-ud", { user_data: "x".repeat(32769) }),
    },
  ],
  [
    "create server, malformed JSON",
    { method: "POST", template: "/servers", path: () => "/servers", status: 400, body: () => "{" },
  ],
  [
    "create server, location unavailable",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 412,
      body: () => serverBody("contract-412"),
      fault: { kind: "location_unavailable", location: "nbg1" },
    },
  ],
  [
    "create server, server limit",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 403,
      body: () => serverBody("contract-403"),
      fault: { kind: "server_limit" },
    },
  ],
  [
    "create server, rate limited",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 429,
      body: () => serverBody("contract-429"),
      fault: { kind: "error", status: 429, code: "rate_limit_exceeded" },
    },
  ],
  [
    "create server, unavailable",
    {
      method: "POST",
      template: "/servers",
      path: () => "/servers",
      status: 503,
      body: () => serverBody("contract-503"),
      fault: { kind: "error", status: 503, code: "unavailable" },
    },
  ],
  [
    "get server",
    { method: "GET", template: "/servers/{id}", path: () => `/servers/${ids.running}`, status: 200 },
  ],
  [
    "get deleting server",
    { method: "GET", template: "/servers/{id}", path: () => `/servers/${ids.deleting}`, status: 200 },
  ],
  ["get missing server", { method: "GET", template: "/servers/{id}", path: () => "/servers/1", status: 404 }],
  [
    "update server",
    {
      method: "PUT",
      template: "/servers/{id}",
      path: () => `/servers/${ids.protectedServer}`,
      status: 200,
      body: () => ({ name: "contract-renamed", labels: { suite: "contract", renamed: "yes" } }),
    },
  ],
  [
    "update server, taken name",
    {
      method: "PUT",
      template: "/servers/{id}",
      path: () => `/servers/${ids.protectedServer}`,
      status: 409,
      code: "uniqueness_error",
      body: () => ({ name: "contract-running" }),
    },
  ],
  [
    "update server, bad name",
    {
      method: "PUT",
      template: "/servers/{id}",
      path: () => `/servers/${ids.protectedServer}`,
      status: 422,
      code: "invalid_input",
      body: () => ({ name: "not_a_hostname" }),
    },
  ],
  [
    "update server, locked",
    {
      method: "PUT",
      template: "/servers/{id}",
      path: () => `/servers/${ids.deleting}`,
      status: 423,
      code: "locked",
      body: () => ({ labels: {} }),
    },
  ],
  [
    "update missing server",
    { method: "PUT", template: "/servers/{id}", path: () => "/servers/1", status: 404, body: () => ({}) },
  ],
  [
    "change protection",
    {
      method: "POST",
      template: "/servers/{id}/actions/change_protection",
      path: () => `/servers/${ids.protectedServer}/actions/change_protection`,
      status: 201,
      body: () => ({ delete: true, rebuild: true }),
    },
  ],
  [
    "change protection, flags differ",
    {
      method: "POST",
      template: "/servers/{id}/actions/change_protection",
      path: () => `/servers/${ids.protectedServer}/actions/change_protection`,
      status: 422,
      code: "invalid_input",
      body: () => ({ delete: true, rebuild: false }),
    },
  ],
  [
    "change protection, locked",
    {
      method: "POST",
      template: "/servers/{id}/actions/change_protection",
      path: () => `/servers/${ids.deleting}/actions/change_protection`,
      status: 423,
      code: "locked",
      body: () => ({ delete: true }),
    },
  ],
  [
    "delete protected server",
    {
      method: "DELETE",
      template: "/servers/{id}",
      path: () => `/servers/${ids.protectedServer}`,
      status: 423,
      code: "protected",
    },
  ],
  [
    "delete server",
    { method: "DELETE", template: "/servers/{id}", path: () => `/servers/${ids.running}`, status: 200 },
  ],
  [
    "delete server, locked",
    { method: "DELETE", template: "/servers/{id}", path: () => `/servers/${ids.deleting}`, status: 423 },
  ],
  [
    "delete missing server",
    { method: "DELETE", template: "/servers/{id}", path: () => "/servers/1", status: 404 },
  ],
  [
    "server actions",
    {
      method: "GET",
      template: "/servers/{id}/actions",
      path: () => `/servers/${ids.running}/actions`,
      status: 200,
    },
  ],
  [
    "server actions, missing server",
    { method: "GET", template: "/servers/{id}/actions", path: () => "/servers/1/actions", status: 404 },
  ],
  [
    "actions by id",
    {
      method: "GET",
      template: "/actions",
      path: () => `/actions?id=${ids.action}&id=${ids.failedCreateAction}`,
      status: 200,
    },
  ],
  ["actions without id", { method: "GET", template: "/actions", path: () => "/actions", status: 422 }],
  [
    "get action",
    { method: "GET", template: "/actions/{id}", path: () => `/actions/${ids.action}`, status: 200 },
  ],
  [
    "get failed action",
    {
      method: "GET",
      template: "/actions/{id}",
      path: () => `/actions/${ids.failedCreateAction}`,
      status: 200,
    },
  ],
  ["get missing action", { method: "GET", template: "/actions/{id}", path: () => "/actions/1", status: 404 }],
  [
    "list ssh keys",
    { method: "GET", template: "/ssh_keys", path: () => "/ssh_keys?name=contract-key", status: 200 },
  ],
  [
    "list ssh keys, bad token",
    {
      method: "GET",
      template: "/ssh_keys",
      path: () => "/ssh_keys",
      status: 401,
      code: "unauthorized",
      token: "wrong",
    },
  ],
  [
    "list ssh keys, bad selector",
    {
      method: "GET",
      template: "/ssh_keys",
      path: () => "/ssh_keys?label_selector=a%20in",
      status: 422,
      code: "invalid_input",
    },
  ],
  [
    "list ssh keys, bad sort",
    {
      method: "GET",
      template: "/ssh_keys",
      path: () => "/ssh_keys?sort=fingerprint",
      status: 422,
      code: "invalid_input",
    },
  ],
  [
    "create ssh key",
    {
      method: "POST",
      template: "/ssh_keys",
      path: () => "/ssh_keys",
      status: 201,
      body: () => ({ name: "contract-key-2", public_key: publicKey(), labels: { a: "b" } }),
    },
  ],
  [
    "create ssh key, taken name",
    {
      method: "POST",
      template: "/ssh_keys",
      path: () => "/ssh_keys",
      status: 409,
      body: () => ({ name: "contract-key", public_key: publicKey() }),
    },
  ],
  [
    "create ssh key, bad key",
    {
      method: "POST",
      template: "/ssh_keys",
      path: () => "/ssh_keys",
      status: 422,
      body: () => ({ name: "k", public_key: "nope" }),
    },
  ],
  [
    "get ssh key",
    { method: "GET", template: "/ssh_keys/{id}", path: () => `/ssh_keys/${ids.sshKey}`, status: 200 },
  ],
  [
    "get missing ssh key",
    { method: "GET", template: "/ssh_keys/{id}", path: () => "/ssh_keys/1", status: 404 },
  ],
  [
    "update ssh key",
    {
      method: "PUT",
      template: "/ssh_keys/{id}",
      path: () => `/ssh_keys/${ids.sshKey}`,
      status: 200,
      body: () => ({ name: "contract-key-renamed", labels: { suite: "contract" } }),
    },
  ],
  [
    "update ssh key, taken name",
    {
      method: "PUT",
      template: "/ssh_keys/{id}",
      path: () => `/ssh_keys/${ids.sshKey}`,
      status: 409,
      code: "uniqueness_error",
      body: () => ({ name: "contract-key-2" }),
    },
  ],
  [
    "delete ssh key",
    { method: "DELETE", template: "/ssh_keys/{id}", path: () => `/ssh_keys/${ids.sshKey}`, status: 204 },
  ],
  [
    "delete missing ssh key",
    { method: "DELETE", template: "/ssh_keys/{id}", path: () => "/ssh_keys/1", status: 404 },
  ],
  ["list firewalls", { method: "GET", template: "/firewalls", path: () => "/firewalls", status: 200 }],
  [
    "list firewalls, bad token",
    {
      method: "GET",
      template: "/firewalls",
      path: () => "/firewalls",
      status: 401,
      code: "unauthorized",
      token: "wrong",
    },
  ],
  [
    "list firewalls, bad selector",
    {
      method: "GET",
      template: "/firewalls",
      path: () => "/firewalls?label_selector=a%20in",
      status: 422,
      code: "invalid_input",
    },
  ],
  [
    "list firewalls, bad per_page",
    {
      method: "GET",
      template: "/firewalls",
      path: () => "/firewalls?per_page=0",
      status: 422,
      code: "invalid_input",
    },
  ],
  [
    "create firewall",
    {
      method: "POST",
      template: "/firewalls",
      path: () => "/firewalls",
      status: 201,
      body: () => ({
        name: "contract-fw",
        rules: [{ direction: "in", protocol: "tcp", port: "22", source_ips: ["0.0.0.0/0"] }],
        apply_to: [{ type: "label_selector", label_selector: { selector: "suite=contract" } }],
      }),
    },
  ],
  [
    "create firewall, taken name",
    {
      method: "POST",
      template: "/firewalls",
      path: () => "/firewalls",
      status: 409,
      body: () => ({ name: "contract-free" }),
    },
  ],
  [
    "get firewall",
    { method: "GET", template: "/firewalls/{id}", path: () => `/firewalls/${ids.busyFirewall}`, status: 200 },
  ],
  [
    "get missing firewall",
    { method: "GET", template: "/firewalls/{id}", path: () => "/firewalls/1", status: 404 },
  ],
  [
    "update firewall",
    {
      method: "PUT",
      template: "/firewalls/{id}",
      path: () => `/firewalls/${ids.busyFirewall}`,
      status: 200,
      body: () => ({ name: "contract-busy-renamed", labels: { suite: "contract" } }),
    },
  ],
  [
    "update firewall, taken name",
    {
      method: "PUT",
      template: "/firewalls/{id}",
      path: () => `/firewalls/${ids.busyFirewall}`,
      status: 409,
      code: "uniqueness_error",
      body: () => ({ name: "contract-free" }),
    },
  ],
  [
    "delete firewall in use",
    {
      method: "DELETE",
      template: "/firewalls/{id}",
      path: () => `/firewalls/${ids.busyFirewall}`,
      status: 422,
    },
  ],
  [
    "delete firewall",
    { method: "DELETE", template: "/firewalls/{id}", path: () => `/firewalls/${ids.firewall}`, status: 204 },
  ],
  ["list locations", { method: "GET", template: "/locations", path: () => "/locations", status: 200 }],
  [
    "list locations, bad token",
    {
      method: "GET",
      template: "/locations",
      path: () => "/locations",
      status: 401,
      code: "unauthorized",
      token: "wrong",
    },
  ],
  [
    "list locations, bad sort",
    {
      method: "GET",
      template: "/locations",
      path: () => "/locations?sort=created",
      status: 422,
      code: "invalid_input",
    },
  ],
  ["list datacenters", { method: "GET", template: "/datacenters", path: () => "/datacenters", status: 200 }],
  [
    "list datacenters, bad token",
    {
      method: "GET",
      template: "/datacenters",
      path: () => "/datacenters",
      status: 401,
      code: "unauthorized",
      token: "wrong",
    },
  ],
  [
    "list datacenters, bad page",
    {
      method: "GET",
      template: "/datacenters",
      path: () => "/datacenters?page=-1",
      status: 422,
      code: "invalid_input",
    },
  ],
  [
    "list server types",
    { method: "GET", template: "/server_types", path: () => "/server_types", status: 200 },
  ],
  ["list images", { method: "GET", template: "/images", path: () => "/images", status: 200 }],
  ["get location", { method: "GET", template: "/locations/{id}", path: () => "/locations/2", status: 200 }],
  [
    "get missing location",
    {
      method: "GET",
      template: "/locations/{id}",
      path: () => "/locations/99",
      status: 404,
      code: "not_found",
    },
  ],
  [
    "get datacenter",
    { method: "GET", template: "/datacenters/{id}", path: () => "/datacenters/2", status: 200 },
  ],
  [
    "get missing datacenter",
    { method: "GET", template: "/datacenters/{id}", path: () => "/datacenters/99", status: 404 },
  ],
  [
    "get server type",
    { method: "GET", template: "/server_types/{id}", path: () => "/server_types/114", status: 200 },
  ],
  [
    "get missing server type",
    { method: "GET", template: "/server_types/{id}", path: () => "/server_types/1", status: 404 },
  ],
  [
    "list primary ips",
    { method: "GET", template: "/primary_ips", path: () => "/primary_ips?sort=id", status: 200 },
  ],
  [
    "get primary ip",
    {
      method: "GET",
      template: "/primary_ips/{id}",
      path: () => `/primary_ips/${ids.primaryIp}`,
      status: 200,
    },
  ],
  [
    "get missing primary ip",
    { method: "GET", template: "/primary_ips/{id}", path: () => "/primary_ips/1", status: 404 },
  ],
  ["get image", { method: "GET", template: "/images/{id}", path: () => "/images/161547269", status: 200 }],
  ["get missing image", { method: "GET", template: "/images/{id}", path: () => "/images/1", status: 404 }],
];

describe("simulator responses conform to the Hetzner OpenAPI file", () => {
  test.each(cases)("%s", async (_, c) => {
    const faultId = c.fault ? sim.faults.add(c.fault) : null;
    try {
      const reply = await call(sim, c.method, c.path(), c.body?.(), c.token ?? sim.token);
      expect(reply.status).toBe(c.status);
      expect(contract.checkResponse(c.method, c.template, reply.status, reply.body)).toEqual([]);
      if (reply.status >= 400)
        expect(reply.body.error.details === null || typeof reply.body.error.details === "object").toBe(true);
      if (c.code !== undefined) expect(reply.body.error.code).toBe(c.code);
    } finally {
      if (faultId) sim.faults.remove(faultId);
    }
  });

  test("a running action and a finished one both conform", async () => {
    const { action } = (await call(sim, "POST", "/servers", serverBody("contract-actions"))).body;
    expect(contract.check("action", action)).toEqual([]);
    const done = await waitFor("create to finish", async () => {
      const reply = (await call(sim, "GET", `/actions/${action.id}`)).body.action;
      return reply.status === "success" ? reply : undefined;
    });
    expect(contract.check("action", done)).toEqual([]);
  });
});
