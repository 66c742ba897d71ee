/**
 * Updates to existing resources: PUT /servers/{id}, /ssh_keys/{id}, /firewalls/{id} (name and labels, with
 * create's validation, uniqueness and locked rules) and the server action change_protection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { utils } from "ssh2";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitForGone, waitForStatus } from "./helpers.ts";

let sim: Simulator;
/** A simulator whose creates never finish, so its servers stay locked. */
let frozen: Simulator;
beforeAll(async () => {
  [sim, frozen] = await Promise.all([
    startSimulator({ timeScale: 0.001 }),
    startSimulator({ timeScale: 0.001, timings: { createServerMs: 3_600_000_000 } }),
  ]);
});
afterAll(() => Promise.all([sim.stop(), frozen.stop()]));

function expectError(reply: { status: number; body: unknown }, status: number, code: string) {
  expect({ status: reply.status, code: (reply.body as { error?: { code?: string } })?.error?.code }).toEqual({
    status,
    code,
  });
}

async function runningServer(name: string, labels: Record<string, string> = {}): Promise<number> {
  const created = await call(sim, "POST", "/servers", serverBody(name, { labels }));
  expect(created.status).toBe(201);
  await waitForStatus(sim, created.body.server.id, "running");
  return created.body.server.id;
}

function publicKey(): string {
  return utils.generateKeyPairSync("ed25519", { comment: "update@sim" }).public;
}

describe("PUT /servers/{id}", () => {
  test("renames and relabels; the old name is free at once, label selectors see the new labels", async () => {
    const id = await runningServer("upd-old", { role: "web" });
    const reply = await call(sim, "PUT", `/servers/${id}`, { name: "upd-new", labels: { role: "db" } });
    expect(reply.status).toBe(200);
    expect(reply.body.server).toMatchObject({ id, name: "upd-new", labels: { role: "db" } });
    expect(
      (await call(sim, "GET", "/servers?name=upd-new")).body.servers.map((s: { id: number }) => s.id),
    ).toEqual([id]);
    expect((await call(sim, "GET", "/servers?label_selector=role%3Dweb")).body.servers).toEqual([]);
    expect((await call(sim, "POST", "/servers", serverBody("upd-old"))).status).toBe(201);
  });

  test("labels alone replace the labels and keep the name; an empty body changes nothing", async () => {
    const id = await runningServer("upd-labels", { a: "1", b: "2" });
    const relabelled = await call(sim, "PUT", `/servers/${id}`, { labels: { c: "3" } });
    expect(relabelled.body.server).toMatchObject({ name: "upd-labels", labels: { c: "3" } });
    const same = await call(sim, "PUT", `/servers/${id}`, {});
    expect(same.body.server).toMatchObject({ name: "upd-labels", labels: { c: "3" } });
  });

  test("a firewall applied through a label selector follows a relabel", async () => {
    const id = await runningServer("upd-fw", { tier: "none" });
    const fw = await call(sim, "POST", "/firewalls", {
      name: "upd-selector",
      apply_to: [{ type: "label_selector", label_selector: { selector: "tier=edge" } }],
    });
    await call(sim, "PUT", `/servers/${id}`, { labels: { tier: "edge" } });
    const server = (await call(sim, "GET", `/servers/${id}`)).body.server;
    expect(server.public_net.firewalls.map((f: { id: number }) => f.id)).toEqual([fw.body.firewall.id]);
  });

  test("create's rules: a bad or taken name, bad labels, malformed JSON, unknown id", async () => {
    const id = await runningServer("upd-rules");
    await runningServer("upd-taken");
    const badName = await call(sim, "PUT", `/servers/${id}`, { name: "no_underscores" });
    expectError(badName, 422, "invalid_input");
    expect(badName.body.error.details.fields[0].name).toBe("name");
    expectError(await call(sim, "PUT", `/servers/${id}`, { name: 7 }), 422, "invalid_input");
    expectError(await call(sim, "PUT", `/servers/${id}`, { name: "upd-taken" }), 409, "uniqueness_error");
    expectError(
      await call(sim, "PUT", `/servers/${id}`, { labels: { "hetzner.cloud/x": "y" } }),
      422,
      "invalid_input",
    );
    expectError(await call(sim, "PUT", `/servers/${id}`, "{"), 400, "json_error");
    expectError(await call(sim, "PUT", "/servers/1", { name: "x" }), 404, "not_found");
    // Nothing of the refused updates stuck; renaming to its own name is no clash.
    const own = await call(sim, "PUT", `/servers/${id}`, { name: "upd-rules" });
    expect(own.body.server).toMatchObject({ name: "upd-rules", labels: {} });
  });

  test("a server being created or deleted is 423 locked", async () => {
    const creating = (await call(frozen, "POST", "/servers", serverBody("upd-creating"))).body.server.id;
    expectError(await call(frozen, "PUT", `/servers/${creating}`, { name: "x" }), 423, "locked");
    const id = await runningServer("upd-deleting");
    expect((await call(sim, "DELETE", `/servers/${id}`)).status).toBe(200);
    expectError(await call(sim, "PUT", `/servers/${id}`, { labels: {} }), 423, "locked");
  });
});

describe("POST /servers/{id}/actions/change_protection", () => {
  test("a delete-protected server answers 423 protected and stays; lifting it lets the delete through", async () => {
    const id = await runningServer("prot");
    const on = await call(sim, "POST", `/servers/${id}/actions/change_protection`, {
      delete: true,
      rebuild: true,
    });
    expect(on.status).toBe(201);
    expect(on.body.action).toMatchObject({ command: "change_protection", status: "success", progress: 100 });
    expect(on.body.action.resources).toEqual([{ id, type: "server" }]);
    expect((await call(sim, "GET", `/servers/${id}`)).body.server.protection).toEqual({
      delete: true,
      rebuild: true,
    });
    expectError(await call(sim, "DELETE", `/servers/${id}`), 423, "protected");
    expect((await call(sim, "GET", `/servers/${id}`)).body.server.status).toBe("running");
    const actions = (await call(sim, "GET", `/servers/${id}/actions`)).body.actions;
    expect(actions.map((a: { command: string }) => a.command)).toContain("change_protection");
    await call(sim, "POST", `/servers/${id}/actions/change_protection`, { delete: false });
    expect((await call(sim, "GET", `/servers/${id}`)).body.server.protection).toEqual({
      delete: false,
      rebuild: false,
    });
    expect((await call(sim, "DELETE", `/servers/${id}`)).status).toBe(200);
    await waitForGone(sim, id);
  });

  test("one flag alone sets both, as Hetzner keeps them equal", async () => {
    const id = await runningServer("prot-one");
    await call(sim, "POST", `/servers/${id}/actions/change_protection`, { rebuild: true });
    expect((await call(sim, "GET", `/servers/${id}`)).body.server.protection).toEqual({
      delete: true,
      rebuild: true,
    });
  });

  test.each([
    ["differ", { delete: true, rebuild: false }],
    ["none", {}],
    ["string", { delete: "yes" }],
  ] as [string, Record<string, unknown>][])(
    "flags (%s) are 422 invalid_input and change nothing",
    async (kind, body) => {
      const id = await runningServer(`prot-bad-${kind}`);
      expectError(
        await call(sim, "POST", `/servers/${id}/actions/change_protection`, body),
        422,
        "invalid_input",
      );
      expect((await call(sim, "GET", `/servers/${id}`)).body.server.protection).toEqual({
        delete: false,
        rebuild: false,
      });
    },
  );

  test("locked while created, 404 for an unknown server", async () => {
    const creating = (await call(frozen, "POST", "/servers", serverBody("prot-creating"))).body.server.id;
    expectError(
      await call(frozen, "POST", `/servers/${creating}/actions/change_protection`, { delete: true }),
      423,
      "locked",
    );
    expectError(
      await call(sim, "POST", "/servers/1/actions/change_protection", { delete: true }),
      404,
      "not_found",
    );
  });
});

describe("PUT /ssh_keys/{id}", () => {
  test("renames and relabels; the key and fingerprint stay", async () => {
    const key = (await call(sim, "POST", "/ssh_keys", { name: "key-old", public_key: publicKey() })).body
      .ssh_key;
    const reply = await call(sim, "PUT", `/ssh_keys/${key.id}`, { name: "key-new", labels: { owner: "me" } });
    expect(reply.status).toBe(200);
    expect(reply.body.ssh_key).toEqual({ ...key, name: "key-new", labels: { owner: "me" } });
    expect((await call(sim, "GET", "/ssh_keys?label_selector=owner%3Dme")).body.ssh_keys).toHaveLength(1);
  });

  test("a taken or empty name and bad labels are refused; unknown ids are 404", async () => {
    const a = (await call(sim, "POST", "/ssh_keys", { name: "key-a", public_key: publicKey() })).body.ssh_key;
    await call(sim, "POST", "/ssh_keys", { name: "key-b", public_key: publicKey() });
    expectError(await call(sim, "PUT", `/ssh_keys/${a.id}`, { name: "key-b" }), 409, "uniqueness_error");
    expectError(await call(sim, "PUT", `/ssh_keys/${a.id}`, { name: "" }), 422, "invalid_input");
    expectError(await call(sim, "PUT", `/ssh_keys/${a.id}`, { labels: { "-x": "y" } }), 422, "invalid_input");
    expectError(await call(sim, "PUT", "/ssh_keys/1", { name: "x" }), 404, "not_found");
    expect((await call(sim, "GET", `/ssh_keys/${a.id}`)).body.ssh_key).toEqual(a);
  });
});

describe("PUT /firewalls/{id}", () => {
  test("renames and relabels; rules and resources stay", async () => {
    const rules = [{ direction: "in", protocol: "tcp", port: "22", source_ips: ["0.0.0.0/0"] }];
    const fw = (await call(sim, "POST", "/firewalls", { name: "fw-old", rules })).body.firewall;
    const reply = await call(sim, "PUT", `/firewalls/${fw.id}`, { name: "fw-new", labels: { env: "test" } });
    expect(reply.status).toBe(200);
    expect(reply.body.firewall).toMatchObject({ id: fw.id, name: "fw-new", labels: { env: "test" } });
    expect(reply.body.firewall.rules).toEqual(fw.rules);
  });

  test("a taken, empty or over-long name is refused; unknown ids are 404", async () => {
    const fw = (await call(sim, "POST", "/firewalls", { name: "fw-a" })).body.firewall;
    await call(sim, "POST", "/firewalls", { name: "fw-b" });
    expectError(await call(sim, "PUT", `/firewalls/${fw.id}`, { name: "fw-b" }), 409, "uniqueness_error");
    expectError(await call(sim, "PUT", `/firewalls/${fw.id}`, { name: "" }), 422, "invalid_input");
    expectError(
      await call(sim, "PUT", `/firewalls/${fw.id}`, { name: "f".repeat(129) }),
      422,
      "invalid_input",
    );
    expectError(await call(sim, "POST", "/firewalls", { name: "f".repeat(129) }), 422, "invalid_input");
    expectError(await call(sim, "PUT", "/firewalls/1", { name: "x" }), 404, "not_found");
  });
});
