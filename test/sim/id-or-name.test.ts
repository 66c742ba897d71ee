/**
 * "ID or name" request fields (as JSON numbers, numeric strings and names), the catalogue served by id,
 * and primary IP ids of their own: what Hetzner's official clients rely on.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { utils } from "ssh2";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitForGone, waitForStatus } from "./helpers.ts";

let sim: Simulator;
let keyId = 0;
beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.001 });
  const publicKey = utils.generateKeyPairSync("ed25519", { comment: "ref@sim" }).public;
  keyId = (await call(sim, "POST", "/ssh_keys", { name: "ref-key", public_key: publicKey })).body.ssh_key.id;
});
afterAll(() => sim.stop());

describe("the catalogue by id", () => {
  test.each([
    ["/locations/2", "location", "nbg1"],
    ["/datacenters/2", "datacenter", "nbg1-dc3"],
    ["/server_types/114", "server_type", "cx23"],
    ["/images/161547269", "image", "ubuntu-24.04"],
  ])("GET %s answers the %s named %s", async (path, key, name) => {
    const reply = await call(sim, "GET", path);
    expect(reply.status).toBe(200);
    expect(reply.body[key].name).toBe(name);
  });

  test.each(["/locations/99", "/datacenters/99", "/server_types/99999", "/images/1"])(
    "GET %s of an unknown id is 404 not_found",
    async (path) => {
      const reply = await call(sim, "GET", path);
      expect(reply.status).toBe(404);
      expect(reply.body.error.code).toBe("not_found");
    },
  );

  test("every server type a datacenter lists as available is served by id", async () => {
    const dc = (await call(sim, "GET", "/datacenters/2")).body.datacenter;
    for (const id of dc.server_types.available)
      expect((await call(sim, "GET", `/server_types/${id}`)).status).toBe(200);
  });
});

describe("POST /servers takes catalogue references by id or by name", () => {
  // Functions, so the SSH key's id (known only once the simulator runs) is read when the case runs.
  const forms: [string, () => Record<string, unknown>][] = [
    [
      "names",
      () => ({ server_type: "cx23", image: "ubuntu-24.04", location: "nbg1", ssh_keys: ["ref-key"] }),
    ],
    ["JSON numbers", () => ({ server_type: 114, image: 161547269, location: 2, ssh_keys: [keyId] })],
    ["numeric strings", () => ({ server_type: "114", image: "161547269", location: "2", ssh_keys: [keyId] })],
    ["a datacenter by id", () => ({ location: undefined, datacenter: 2 })],
    ["a datacenter by name", () => ({ location: undefined, datacenter: "nbg1-dc3" })],
  ];
  test.each(forms)("given %s", async (form, refs) => {
    const body = serverBody(`ref-${form.replaceAll(" ", "-")}`, refs());
    const reply = await call(sim, "POST", "/servers", body);
    expect(reply.status).toBe(201);
    const { server } = reply.body;
    expect([server.server_type.name, server.image.name, server.datacenter.name]).toEqual([
      "cx23",
      "ubuntu-24.04",
      "nbg1-dc3",
    ]);
  });

  test.each([
    ["server_type", 99_999],
    ["image", 1],
    ["location", 99],
    ["datacenter", 99],
    ["image", "99"],
    ["ssh_keys", [42]],
  ])("an unknown %s %p is 422 invalid_input naming it", async (field, value) => {
    const extra = field === "datacenter" ? { location: undefined } : {};
    const reply = await call(
      sim,
      "POST",
      "/servers",
      serverBody("ref-unknown", { ...extra, [field]: value }),
    );
    expect(reply.status).toBe(422);
    expect(reply.body.error.code).toBe("invalid_input");
    expect(reply.body.error.details.fields[0].name).toBe(field);
  });

  test.each([true, 1.5, 0, -2, "", {}])("a server_type of %p is 422 invalid_input", async (value) => {
    const reply = await call(sim, "POST", "/servers", serverBody("ref-type", { server_type: value }));
    expect(reply.status).toBe(422);
    expect(reply.body.error.details.fields[0].name).toBe("server_type");
  });

  test("a type not offered in the location is Hetzner's 'unsupported location for server type'", async () => {
    const reply = await call(sim, "POST", "/servers", serverBody("ref-ash", { location: 4 }));
    expect(reply.status).toBe(422);
    expect(reply.body.error).toMatchObject({
      code: "invalid_input",
      message: "unsupported location for server type",
    });
  });
});

test("primary IPs have ids of their own, distinct from the server's and from each other", async () => {
  const a = (await call(sim, "POST", "/servers", serverBody("ip-a"))).body.server;
  const b = (await call(sim, "POST", "/servers", serverBody("ip-b"))).body.server;
  const ids = [
    a.id,
    a.public_net.ipv4.id,
    a.public_net.ipv6.id,
    b.id,
    b.public_net.ipv4.id,
    b.public_net.ipv6.id,
  ];
  expect(new Set(ids).size).toBe(6);
});

test("a server's primary IPs are served by id and by address, and go with their server", async () => {
  const server = (await call(sim, "POST", "/servers", serverBody("ip-served"))).body.server;
  const v4 = (await call(sim, "GET", `/primary_ips/${server.public_net.ipv4.id}`)).body.primary_ip;
  expect(v4).toMatchObject({ type: "ipv4", ip: server.public_net.ipv4.ip, assignee_id: server.id });
  const v6 = (await call(sim, "GET", `/primary_ips/${server.public_net.ipv6.id}`)).body.primary_ip;
  expect(v6).toMatchObject({ type: "ipv6", ip: server.public_net.ipv6.ip, assignee_id: server.id });
  const byIp = await call(sim, "GET", `/primary_ips?ip=${encodeURIComponent(server.public_net.ipv4.ip)}`);
  expect(byIp.body.primary_ips.map((p: { id: number }) => p.id)).toEqual([server.public_net.ipv4.id]);
  await waitForStatus(sim, server.id, "running");
  await call(sim, "DELETE", `/servers/${server.id}`);
  await waitForGone(sim, server.id);
  expect((await call(sim, "GET", `/primary_ips/${server.public_net.ipv4.id}`)).status).toBe(404);
});
