import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utils } from "ssh2";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitForGone, waitForStatus } from "./helpers.ts";

let sim: Simulator;
let scratch: string;
beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.001 });
  scratch = await mkdtemp(join(tmpdir(), "sim-keys-"));
});
afterAll(async () => {
  await sim.stop();
  await rm(scratch, { recursive: true, force: true });
});

function newPublicKey(type: "ed25519" | "rsa" = "ed25519"): string {
  return utils.generateKeyPairSync(type, { bits: 2048, comment: "test@sim" }).public;
}

/** The MD5 fingerprint OpenSSH itself computes, for comparison. */
async function opensshFingerprint(publicKey: string): Promise<string> {
  const path = join(scratch, `key-${Math.random().toString(36).slice(2)}.pub`);
  await writeFile(path, `${publicKey}\n`);
  const out = await new Response(Bun.spawn(["ssh-keygen", "-l", "-E", "md5", "-f", path]).stdout).text();
  return out.split(" ")[1]?.replace(/^MD5:/, "") ?? "";
}

describe("SSH keys", () => {
  test("create answers 201 with the MD5 colon fingerprint OpenSSH computes", async () => {
    for (const type of ["ed25519", "rsa"] as const) {
      const publicKey = newPublicKey(type);
      const reply = await call(sim, "POST", "/ssh_keys", {
        name: `fp-${type}`,
        public_key: publicKey,
        labels: { a: "b" },
      });
      expect(reply.status).toBe(201);
      expect(reply.body.ssh_key).toMatchObject({
        name: `fp-${type}`,
        public_key: publicKey,
        labels: { a: "b" },
      });
      expect(reply.body.ssh_key.fingerprint).toBe(await opensshFingerprint(publicKey));
    }
  });

  test("a taken name or a duplicate fingerprint is 409 uniqueness_error", async () => {
    const publicKey = newPublicKey();
    expect((await call(sim, "POST", "/ssh_keys", { name: "uniq", public_key: publicKey })).status).toBe(201);
    const sameName = await call(sim, "POST", "/ssh_keys", { name: "uniq", public_key: newPublicKey() });
    expect([sameName.status, sameName.body.error.code]).toEqual([409, "uniqueness_error"]);
    const sameKey = await call(sim, "POST", "/ssh_keys", {
      name: "uniq-2",
      public_key: publicKey.replace("test@sim", "other"),
    });
    expect([sameKey.status, sameKey.body.error.details.fields[0].name]).toEqual([409, "public_key"]);
  });

  test("a malformed key or a missing name is 422 invalid_input", async () => {
    const garbage = await call(sim, "POST", "/ssh_keys", {
      name: "bad",
      public_key: "ssh-ed25519 bm90IGEga2V5",
    });
    expect([garbage.status, garbage.body.error.details.fields[0].name]).toEqual([422, "public_key"]);
    const noName = await call(sim, "POST", "/ssh_keys", { public_key: newPublicKey() });
    expect([noName.status, noName.body.error.details.fields[0].name]).toEqual([422, "name"]);
  });

  test("list filters by name, fingerprint and label; get; delete answers 204 then 404", async () => {
    const created = (
      await call(sim, "POST", "/ssh_keys", {
        name: "find-me",
        public_key: newPublicKey(),
        labels: { team: "x" },
      })
    ).body.ssh_key;
    expect((await call(sim, "GET", "/ssh_keys?name=find-me")).body.ssh_keys).toEqual([created]);
    const byPrint = await call(
      sim,
      "GET",
      `/ssh_keys?fingerprint=${encodeURIComponent(created.fingerprint)}`,
    );
    expect(byPrint.body.ssh_keys).toEqual([created]);
    expect((await call(sim, "GET", "/ssh_keys?label_selector=team%3Dx")).body.ssh_keys).toEqual([created]);
    expect((await call(sim, "GET", `/ssh_keys/${created.id}`)).body.ssh_key).toEqual(created);
    const deleted = await call(sim, "DELETE", `/ssh_keys/${created.id}`);
    expect([deleted.status, deleted.body]).toEqual([204, null]);
    expect((await call(sim, "DELETE", `/ssh_keys/${created.id}`)).status).toBe(404);
  });

  test("servers accept keys by name or id", async () => {
    const key = (await call(sim, "POST", "/ssh_keys", { name: "for-server", public_key: newPublicKey() }))
      .body.ssh_key;
    const byName = await call(
      sim,
      "POST",
      "/servers",
      serverBody("key-by-name", { ssh_keys: ["for-server"] }),
    );
    const byId = await call(sim, "POST", "/servers", serverBody("key-by-id", { ssh_keys: [key.id] }));
    expect([byName.status, byId.status]).toEqual([201, 201]);
  });
});

describe("firewalls", () => {
  const rules = [{ direction: "in", protocol: "tcp", port: "22", source_ips: ["0.0.0.0/0", "::/0"] }];

  test("create, apply through a server's create body, list, get; delete is refused while applied", async () => {
    const created = await call(sim, "POST", "/firewalls", { name: "fw-ssh", rules, labels: { role: "ssh" } });
    expect(created.status).toBe(201);
    const firewall = created.body.firewall;
    expect(firewall).toMatchObject({ name: "fw-ssh", applied_to: [], labels: { role: "ssh" } });
    expect(firewall.rules[0]).toMatchObject({ direction: "in", protocol: "tcp", port: "22" });
    expect(created.body.actions.map((a: { command: string }) => a.command)).toEqual(["set_firewall_rules"]);

    const { server } = (
      await call(sim, "POST", "/servers", serverBody("fw-server", { firewalls: [{ firewall: firewall.id }] }))
    ).body;
    expect(server.public_net.firewalls).toEqual([{ id: firewall.id, status: "applied" }]);
    const got = await call(sim, "GET", `/firewalls/${firewall.id}`);
    expect(got.body.firewall.applied_to).toEqual([{ type: "server", server: { id: server.id } }]);
    expect((await call(sim, "GET", "/firewalls?label_selector=role%3Dssh")).body.firewalls).toHaveLength(1);
    expect((await call(sim, "GET", "/firewalls?name=fw-ssh")).body.firewalls).toHaveLength(1);

    const inUse = await call(sim, "DELETE", `/firewalls/${firewall.id}`);
    expect([inUse.status, inUse.body.error.code]).toEqual([422, "resource_in_use"]);
    await waitForStatus(sim, server.id, "running");
    await call(sim, "DELETE", `/servers/${server.id}`);
    await waitForGone(sim, server.id);
    expect((await call(sim, "DELETE", `/firewalls/${firewall.id}`)).status).toBe(204);
    expect((await call(sim, "GET", `/firewalls/${firewall.id}`)).status).toBe(404);
  });

  test("bad rules, a taken name and unknown apply_to targets are rejected", async () => {
    const noPort = await call(sim, "POST", "/firewalls", {
      name: "fw-bad",
      rules: [{ direction: "in", protocol: "tcp", source_ips: ["0.0.0.0/0"] }],
    });
    expect([noPort.status, noPort.body.error.details.fields[0].name]).toEqual([422, "rules"]);
    await call(sim, "POST", "/firewalls", { name: "fw-taken" });
    expect((await call(sim, "POST", "/firewalls", { name: "fw-taken" })).status).toBe(409);
    const ghost = await call(sim, "POST", "/firewalls", {
      name: "fw-ghost",
      apply_to: [{ type: "server", server: { id: 1 } }],
    });
    expect([ghost.status, ghost.body.error.details.fields[0].name]).toEqual([422, "apply_to"]);
  });

  test("a label-selector firewall lists the servers it reaches", async () => {
    const { server } = (
      await call(sim, "POST", "/servers", serverBody("fw-sel", { labels: { fleet: "rachel" } }))
    ).body;
    const created = await call(sim, "POST", "/firewalls", {
      name: "fw-fleet",
      apply_to: [{ type: "label_selector", label_selector: { selector: "fleet=rachel" } }],
    });
    expect(created.body.firewall.applied_to[0].applied_to_resources).toEqual([
      { type: "server", server: { id: server.id } },
    ]);
    const view = (await call(sim, "GET", `/servers/${server.id}`)).body.server;
    expect(view.public_net.firewalls).toContainEqual({ id: created.body.firewall.id, status: "applied" });
  });
});
