import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { utils } from "ssh2";
import { isHetznerError } from "../../hetzner/index.ts";
import { type Harness, startHarness } from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.sim.stop();
});

function publicKey(comment: string): string {
  return `${utils.generateKeyPairSync("ed25519").public.trim()} ${comment}`;
}

describe("ssh keys", () => {
  test("create, then find by name, fingerprint and label selector, then delete", async () => {
    const key = await h.client.sshKeys.create({
      name: "deploy-i-1",
      publicKey: publicKey("deploy@i-1"),
      labels: { instance: "i-1" },
    });
    expect(key.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    expect((await h.client.sshKeys.listAll({ name: "deploy-i-1" })).map((k) => k.id)).toEqual([key.id]);
    expect((await h.client.sshKeys.listAll({ fingerprint: key.fingerprint })).map((k) => k.id)).toEqual([
      key.id,
    ]);
    expect((await h.client.sshKeys.listAll({ labelSelector: "instance=i-1" })).map((k) => k.id)).toEqual([
      key.id,
    ]);
    expect((await h.client.sshKeys.get(key.id))?.name).toBe("deploy-i-1");
    expect(await h.client.sshKeys.delete(key.id)).toBe(true);
    expect(await h.client.sshKeys.get(key.id)).toBeNull();
    expect(await h.client.sshKeys.delete(key.id)).toBe(false);
  });

  test("a taken name is uniqueness_error", async () => {
    await h.client.sshKeys.create({ name: "taken", publicKey: publicKey("a@x") });
    const err = await h.client.sshKeys.create({ name: "taken", publicKey: publicKey("b@x") }).catch((e) => e);
    expect(isHetznerError(err, "uniqueness_error")).toBe(true);
  });
});

describe("firewalls", () => {
  test("create with rules, get, list by name and label", async () => {
    const created = await h.client.firewalls.create({
      name: "fw-i-1",
      labels: { instance: "i-1" },
      rules: [
        { direction: "in", protocol: "tcp", port: "22", sourceIps: ["0.0.0.0/0", "::/0"] },
        { direction: "in", protocol: "icmp", sourceIps: ["0.0.0.0/0"] },
      ],
    });
    expect(created.firewall.rules.map((r) => r.protocol)).toEqual(["tcp", "icmp"]);
    expect((await h.client.firewalls.get(created.firewall.id))?.name).toBe("fw-i-1");
    expect((await h.client.firewalls.listAll({ name: "fw-i-1" })).map((f) => f.id)).toEqual([
      created.firewall.id,
    ]);
    expect((await h.client.firewalls.listAll({ labelSelector: "instance" })).map((f) => f.id)).toEqual([
      created.firewall.id,
    ]);
  });

  test("delete: resource_in_use while applied to a server, then gone; a second delete is false", async () => {
    const { firewall } = await h.client.firewalls.create({ name: "fw-delete" });
    const { server } = await h.client.servers.create({
      name: "behind-fw",
      serverType: "cx23",
      image: "ubuntu-24.04",
      firewalls: [firewall.id],
    });
    const inUse = await h.client.firewalls.delete(firewall.id).catch((err: unknown) => err);
    expect(isHetznerError(inUse, "resource_in_use")).toBe(true);
    const deletion = await h.client.servers.delete(server.id);
    if (deletion) await h.client.actions.waitFor([deletion.id], { pollIntervalMs: 5 });
    expect(await h.client.firewalls.delete(firewall.id)).toBe(true);
    expect(await h.client.firewalls.get(firewall.id)).toBeNull();
    expect(await h.client.firewalls.delete(firewall.id)).toBe(false);
  });

  test("get returns null for a firewall that does not exist", async () => {
    expect(await h.client.firewalls.get(987_654)).toBeNull();
  });
});

describe("locations and datacenters", () => {
  test("list the catalogue", async () => {
    const locations = await h.client.locations.listAll();
    expect(locations.map((l) => l.name)).toContain("nbg1");
    const datacenters = await h.client.datacenters.listAll();
    expect(datacenters.length).toBeGreaterThan(0);
  });

  test("a server type by name, with its hourly price per location; null for an unknown name", async () => {
    const type = await h.client.serverTypes.getByName("cx23");
    expect(type?.name).toBe("cx23");
    const nbg1 = type?.prices.find((p) => p.location === "nbg1");
    expect(Number(nbg1?.price_hourly.gross)).toBeGreaterThan(0);
    expect(Number(nbg1?.price_hourly.gross)).toBeGreaterThan(Number(nbg1?.price_hourly.net));
    expect(await h.client.serverTypes.getByName("no-such-type")).toBeNull();
  });
});
