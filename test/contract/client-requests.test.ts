/**
 * Every request body the Hetzner client sends, checked against the published OpenAPI file. Bodies are
 * captured by a recording proxy on loopback in front of the simulator, so the client sees real answers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { utils } from "ssh2";
import { createHetznerClient, type HetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { type RecordingProxy, startRecordingProxy } from "../hetzner/recording-proxy.ts";
import { HetznerContract } from "../support/openapi.ts";

const contract = new HetznerContract();
let sim: Simulator;
let proxy: RecordingProxy;
let client: HetznerClient;

beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.001 });
  proxy = startRecordingProxy(sim.baseUrl);
  client = createHetznerClient({
    endpoint: proxy.endpoint,
    token: sim.token,
    budget: new RateLimitBudget(),
    retry: { attempts: 1 },
  });
});
afterAll(async () => {
  await proxy.stop();
  await sim.stop();
});

function lastBody(method: string, path: string): unknown {
  const match = proxy.recorded.findLast((r) => r.method === method && r.path === path);
  if (!match) throw new Error(`no ${method} ${path} was sent`);
  return match.body;
}

const publicKey = () => utils.generateKeyPairSync("ed25519").public.trim();

describe("client request bodies conform to the Hetzner OpenAPI file", () => {
  test("POST /ssh_keys, with and without labels", async () => {
    await client.sshKeys.create({ name: "contract-key", publicKey: publicKey() });
    expect(contract.checkRequest("post", "/ssh_keys", lastBody("POST", "/v1/ssh_keys"))).toEqual([]);
    await client.sshKeys.create({
      name: "contract-key-2",
      publicKey: publicKey(),
      labels: { owner: "rachel" },
    });
    expect(contract.checkRequest("post", "/ssh_keys", lastBody("POST", "/v1/ssh_keys"))).toEqual([]);
  });

  test("POST /firewalls, with rules of every shape the service uses", async () => {
    await client.firewalls.create({ name: "contract-fw-bare" });
    expect(contract.checkRequest("post", "/firewalls", lastBody("POST", "/v1/firewalls"))).toEqual([]);
    await client.firewalls.create({
      name: "contract-fw",
      labels: { owner: "rachel", instance: "i-1" },
      rules: [
        {
          direction: "in",
          protocol: "tcp",
          port: "22",
          sourceIps: ["0.0.0.0/0", "::/0"],
          description: "ssh",
        },
        { direction: "in", protocol: "icmp", sourceIps: ["0.0.0.0/0"] },
        { direction: "out", protocol: "udp", port: "53", destinationIps: ["0.0.0.0/0"] },
      ],
    });
    expect(contract.checkRequest("post", "/firewalls", lastBody("POST", "/v1/firewalls"))).toEqual([]);
  });

  test("POST /servers, minimal and with every option the service sets", async () => {
    await client.servers.create({ name: "contract-min", serverType: "cx23", image: "ubuntu-24.04" });
    expect(contract.checkRequest("post", "/servers", lastBody("POST", "/v1/servers"))).toEqual([]);

    const [key] = await client.sshKeys.listAll({ name: "contract-key" });
    const [firewall] = await client.firewalls.listAll({ name: "contract-fw" });
    if (!key || !firewall) throw new Error("fixtures from earlier tests are missing");
    await client.servers.create({
      name: "contract-full",
      serverType: "cx23",
      image: "ubuntu-24.04",
      location: "nbg1",
      userData: "#cloud-config\nusers: []\n",
      labels: { owner: "rachel", instance: "i-1" },
      sshKeys: [key.id, "contract-key-2"],
      firewalls: [firewall.id],
      startAfterCreate: true,
    });
    const body = lastBody("POST", "/v1/servers");
    expect(contract.checkRequest("post", "/servers", body)).toEqual([]);
    expect(body).toMatchObject({
      ssh_keys: [String(key.id), "contract-key-2"],
      firewalls: [{ firewall: firewall.id }],
    });
  });

  test("PUT /servers/{id} (relabel) and POST change_protection", async () => {
    const { server, action } = await client.servers.create({
      name: "contract-protect",
      serverType: "cx23",
      image: "ubuntu-24.04",
    });
    await client.actions.waitFor([action.id], { pollIntervalMs: 5 });
    await client.servers.relabel(server.id, { owner: "rachel", state: "kept" });
    expect(
      contract.checkRequest("put", "/servers/{id}", lastBody("PUT", `/v1/servers/${server.id}`)),
    ).toEqual([]);
    await client.servers.changeProtection(server.id, { delete: true, rebuild: true });
    const path = `/v1/servers/${server.id}/actions/change_protection`;
    expect(
      contract.checkRequest("post", "/servers/{id}/actions/change_protection", lastBody("POST", path)),
    ).toEqual([]);
  });
});
