import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { paginate } from "../../sim/api/paging.ts";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call } from "./helpers.ts";

describe("meta.pagination", () => {
  const items = Array.from({ length: 53 }, (_, i) => i);
  const cases: [string, number[], Record<string, number | null>][] = [
    [
      "",
      items.slice(0, 25),
      { page: 1, per_page: 25, previous_page: null, next_page: 2, last_page: 3, total_entries: 53 },
    ],
    [
      "page=3",
      items.slice(50),
      { page: 3, per_page: 25, previous_page: 2, next_page: null, last_page: 3, total_entries: 53 },
    ],
    [
      "per_page=50&page=2",
      items.slice(50),
      { page: 2, per_page: 50, previous_page: 1, next_page: null, last_page: 2 },
    ],
    ["per_page=500", items.slice(0, 50), { page: 1, per_page: 50, next_page: 2, last_page: 2 }],
    ["page=9", [], { page: 9, previous_page: 3, next_page: null, last_page: 3 }],
  ];
  test.each(cases)("%p", (query, expected, meta) => {
    const page = paginate(items, new URLSearchParams(query));
    expect(page.items).toEqual(expected);
    expect(page.meta.pagination).toMatchObject(meta);
  });

  test("an empty collection has one empty page", () => {
    expect(paginate([], new URLSearchParams()).meta.pagination).toEqual({
      page: 1,
      per_page: 25,
      previous_page: null,
      next_page: null,
      last_page: 1,
      total_entries: 0,
    });
  });
});

describe("paging over HTTP", () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ timeScale: 0.001 });
    for (let i = 0; i < 53; i++)
      await call(sim, "POST", "/firewalls", { name: `page-${String(i).padStart(2, "0")}` });
  });
  afterAll(() => sim.stop());

  test("walking next_page visits every entry exactly once", async () => {
    const seen: string[] = [];
    let page: number | null = 1;
    while (page !== null) {
      const reply = await call(sim, "GET", `/firewalls?per_page=20&page=${page}&sort=name:desc`);
      seen.push(...reply.body.firewalls.map((f: { name: string }) => f.name));
      page = reply.body.meta.pagination.next_page;
    }
    expect(seen).toHaveLength(53);
    expect(seen[0]).toBe("page-52");
    expect(new Set(seen).size).toBe(53);
  });

  test("bad page numbers are 422 invalid_input", async () => {
    for (const query of ["page=0", "per_page=-1", "page=abc"]) {
      const reply = await call(sim, "GET", `/firewalls?${query}`);
      expect([reply.status, reply.body.error.code]).toEqual([422, "invalid_input"]);
    }
  });

  test("catalogue lists page and filter by name", async () => {
    const locations = await call(sim, "GET", "/locations");
    expect(locations.body.locations.map((l: { name: string }) => l.name)).toEqual([
      "fsn1",
      "nbg1",
      "hel1",
      "ash",
      "hil",
      "sin",
    ]);
    expect(locations.body.meta.pagination.total_entries).toBe(6);
    const cx23 = await call(sim, "GET", "/server_types?name=cx23");
    expect(cx23.body.server_types[0]).toMatchObject({ name: "cx23", cores: 2, memory: 4, disk: 40 });
    const dcs = await call(sim, "GET", "/datacenters?name=nbg1-dc3");
    expect(dcs.body.datacenters[0].server_types.available).toContain(cx23.body.server_types[0].id);
    expect((await call(sim, "GET", "/images?name=ubuntu-24.04")).body.images).toHaveLength(1);
  });
});
