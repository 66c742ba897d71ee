import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call, serverBody } from "./helpers.ts";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ timeScale: 0.001 });
});
afterAll(() => sim.stop());

function expectError(reply: { status: number; body: unknown }, status: number, code: string) {
  expect(reply.status).toBe(status);
  expect(reply.body).toMatchObject({ error: { code } });
}

describe("POST /servers validation", () => {
  test("a missing or wrong token is 401 unauthorized", async () => {
    expectError(await call(sim, "GET", "/servers", undefined, "wrong"), 401, "unauthorized");
    const bare = await fetch(`${sim.endpoint}/servers`);
    expect(bare.status).toBe(401);
  });

  test("malformed JSON is 400 json_error", async () => {
    expectError(await call(sim, "POST", "/servers", "{not json"), 400, "json_error");
    expectError(await call(sim, "POST", "/servers", "[1,2]"), 400, "json_error");
  });

  const badNames = [
    "-lead",
    "trail-",
    "under_score",
    "a..b",
    "x".repeat(64),
    "sp ace",
    "",
    `${"a".repeat(60)}.`.repeat(5),
  ];
  test.each(badNames)("name %p is 422 invalid_input naming the field", async (name) => {
    const reply = await call(sim, "POST", "/servers", serverBody(name));
    expectError(reply, 422, "invalid_input");
    expect(reply.body.error.details.fields[0].name).toBe("name");
  });

  test("RFC 1123 names with digits, dots and inner hyphens are accepted", async () => {
    for (const name of ["9lives", "rachel-42.example", "A-b-C"]) {
      expect((await call(sim, "POST", "/servers", serverBody(name))).status).toBe(201);
    }
  });

  const badRefs: [string, Record<string, unknown>][] = [
    ["server_type", { server_type: "cx999" }],
    ["image", { image: "windows-11" }],
    ["location", { location: "mars1" }],
    ["datacenter", { location: undefined, datacenter: "nbg1-dc99" }],
    ["server_type", { server_type: "cx23", location: "ash" }],
    ["ssh_keys", { ssh_keys: ["nobody"] }],
    ["firewalls", { firewalls: [{ firewall: 1 }] }],
    ["labels", { labels: { "hetzner.cloud/x": "y" } }],
    ["image", { image: undefined }],
  ];
  test.each(badRefs)("a bad %s is 422 invalid_input naming it", async (field, extra) => {
    const reply = await call(sim, "POST", "/servers", serverBody(`bad-${field.replaceAll("_", "-")}`, extra));
    expectError(reply, 422, "invalid_input");
    expect(reply.body.error.details.fields[0].name).toBe(field);
  });

  test("user_data over 32768 UTF-8 bytes is rejected naming the field; exactly 32768 is accepted", async () => {
    const tooLong = await call(
      sim,
      "POST",
      "/servers",
      serverBody("ud-long", { user_data: "x".repeat(32769) }),
    );
    expectError(tooLong, 422, "invalid_input");
    expect(tooLong.body.error.details).toEqual({
      fields: [{ name: "user_data", messages: ["Length must be between 0 and 32768."] }],
    });
    // 16385 two-byte characters: short in UTF-16, too long in UTF-8 bytes.
    const multiByte = await call(
      sim,
      "POST",
      "/servers",
      serverBody("ud-utf8", { user_data: "é".repeat(16385) }),
    );
    expectError(multiByte, 422, "invalid_input");
    const exact = await call(
      sim,
      "POST",
      "/servers",
      serverBody("ud-exact", { user_data: "x".repeat(32768) }),
    );
    expect(exact.status).toBe(201);
  });

  test("a taken name is 409 uniqueness_error", async () => {
    expect((await call(sim, "POST", "/servers", serverBody("twice"))).status).toBe(201);
    const again = await call(sim, "POST", "/servers", serverBody("twice"));
    expectError(again, 409, "uniqueness_error");
    expect(again.body.error.details).toEqual({ fields: [{ name: "name" }] });
  });

  test("unknown ids are 404 not_found", async () => {
    expectError(await call(sim, "GET", "/servers/1"), 404, "not_found");
    expectError(await call(sim, "DELETE", "/servers/1"), 404, "not_found");
    expectError(await call(sim, "GET", "/servers/1/actions"), 404, "not_found");
    expectError(await call(sim, "GET", "/actions/1"), 404, "not_found");
    expectError(await call(sim, "GET", "/nothing-here"), 404, "not_found");
  });

  test("root_password is null with ssh_keys and a string without", async () => {
    const without = await call(sim, "POST", "/servers", serverBody("pw-none"));
    expect(typeof without.body.root_password).toBe("string");
    const key = await call(sim, "POST", "/ssh_keys", {
      name: "pw-key",
      public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGvKkYVhEiVKBFHvsyoTVTh2iw6OqzS6GBN4RSbbwBJm pw@test",
    });
    const withKey = await call(
      sim,
      "POST",
      "/servers",
      serverBody("pw-key", { ssh_keys: [key.body.ssh_key.id] }),
    );
    expect(withKey.status).toBe(201);
    expect(withKey.body.root_password).toBeNull();
  });
});

describe("GET /servers filters", () => {
  test("name, label_selector and status filter; sort orders", async () => {
    for (const [name, role] of [
      ["flt-b", "web"],
      ["flt-a", "db"],
      ["flt-c", "web"],
    ] as const) {
      await call(sim, "POST", "/servers", serverBody(name, { labels: { suite: "filters", role } }));
    }
    const web = await call(
      sim,
      "GET",
      `/servers?label_selector=${encodeURIComponent("suite=filters,role=web")}&sort=name:desc`,
    );
    expect(web.body.servers.map((s: { name: string }) => s.name)).toEqual(["flt-c", "flt-b"]);
    const byName = await call(sim, "GET", "/servers?name=flt-a");
    expect(byName.body.servers).toHaveLength(1);
    const notDb = await call(
      sim,
      "GET",
      `/servers?label_selector=${encodeURIComponent("suite=filters,role notin (db)")}`,
    );
    expect(notDb.body.servers).toHaveLength(2);
    const none = await call(sim, "GET", "/servers?status=deleting&label_selector=suite%3Dfilters");
    expect(none.body.servers).toEqual([]);
    const bad = await call(sim, "GET", `/servers?label_selector=${encodeURIComponent("role in (web")}`);
    expectError(bad, 422, "invalid_input");
    expectError(await call(sim, "GET", "/servers?sort=colour"), 422, "invalid_input");
  });
});
