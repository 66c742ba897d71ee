/**
 * Several Hetzner projects (the simulator's one world per token): placement spreads servers across them,
 * each instance's later calls go to its own project, a project learned full sends provisions to another,
 * and a type every location refuses falls back to the next configured type of its architecture.
 */
import { describe, expect, test } from "bun:test";
import { bundleStoreDir } from "../../bundle/store.ts";
import { pollUntil } from "../../core/wait.ts";
import { projectCapacity } from "../../db/schema.ts";
import { ownershipLabels } from "../../domain/ownership.ts";
import {
  type ProvisionWorld,
  provisionWorldForFile,
  simProject,
  type WorldOverrides,
} from "../../harness/provision-job/world.ts";
import { sweeperFor } from "../../harness/reconcile/sweep-world.ts";
import { createHetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { WAITING_FOR_CAPACITY } from "../../jobs/capacity/line.ts";
import { fallbackTypes, type HetznerProject, hetznerProjects } from "../../jobs/capacity/projects.ts";
import { ensureStandInBundle } from "../../sim/bundle/stand-in.ts";

const B_TOKEN = "token-of-project-b";

/** A worker whose servers go to the simulator's two projects, limited as given (null: unknown). */
function twoProjects(
  w: ProvisionWorld,
  limits: { default: number | null; b: number | null },
  more: Partial<Omit<HetznerProject, "client">> = {},
): WorldOverrides {
  const b = createHetznerClient({
    endpoint: w.sim.endpoint,
    token: B_TOKEN,
    budget: new RateLimitBudget(),
    retry: { startingDelayMs: 20, maxDelayMs: 200 },
  });
  return {
    projects: hetznerProjects([
      simProject(w.hetzner, { serverLimit: limits.default, ...more }),
      simProject(b, { name: "b", serverLimit: limits.b, ...more }),
    ]),
    capacity: {
      maxServers: null,
      waitTimeoutMs: 600_000,
      signal: (instanceId, name, data) => w.runtime.queue.signal(instanceId, name, data),
    },
  };
}

async function provision(w: ProvisionWorld, marker: string) {
  const { customerId } = w.addCustomer(marker);
  return { customerId, ...(await w.requests.requestProvision(customerId)) };
}

async function deprovision(w: ProvisionWorld, customerId: string) {
  const requested = await w.requests.requestDeprovision(customerId);
  if (!requested) throw new Error(`nothing to deprovision for ${customerId}`);
  expect(await w.finish(requested.operationId)).toMatchObject({ status: "succeeded" });
}

describe("Hetzner projects", () => {
  const fixture = provisionWorldForFile({ projects: [{ name: "b", token: B_TOKEN }] });

  test("placement spreads servers over two projects; each instance's calls go to its own", async () => {
    const w = fixture.current;
    await w.startWorker(twoProjects(w, { default: 2, b: 2 }));
    const four = await Promise.all(["p1", "p2", "p3", "p4"].map((m) => provision(w, m)));
    for (const p of four)
      expect(await w.finish(p.operationId, 120_000)).toMatchObject({ status: "succeeded" });
    const placed = four.map((p) => w.instance(p.instanceId).hetznerProject);
    expect(placed.toSorted()).toEqual(["b", "b", "default", "default"]);
    expect([w.sim.serverCount(), w.sim.serverCount("b")]).toEqual([2, 2]);
    // Every create, key and protection of an instance in b went to b's world (its token), none to default's.
    const inB = four.filter((p) => w.instance(p.instanceId).hetznerProject === "b");
    expect(inB.map((p) => w.instance(p.instanceId).hetznerServerId).every((id) => id !== null)).toBe(true);
    expect((await w.leftAtHetzner(inB[0]?.instanceId ?? "")).servers).toEqual([]);

    // Both full: the fifth waits; a deprovision in b frees b, and the fifth is placed there.
    const fifth = await provision(w, "p5");
    await pollUntil(() => w.instance(fifth.instanceId).status === WAITING_FOR_CAPACITY, {
      timeoutMs: 30_000,
      description: "the fifth customer to wait for capacity",
    });
    await deprovision(w, inB[0]?.customerId ?? "");
    expect(await w.finish(fifth.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.instance(fifth.instanceId)).toMatchObject({ status: "ready", hetznerProject: "b" });
    // Still two in b (the simulator sets b no limit): the deprovision deleted its server there, not elsewhere.
    expect([w.sim.serverCount(), w.sim.serverCount("b")]).toEqual([2, 2]);

    // The sweep lists each project once and sees every server matched to its instance: no drift.
    w.sim.clearRequests();
    const swept = await sweeperFor(w).sweep();
    expect(swept).toMatchObject({ status: "succeeded", serversSeen: 4, decisions: [] });
    const listings = w.sim.requests().filter((r) => r.method === "GET" && r.path === "/servers");
    expect(listings.map((r) => r.project).toSorted()).toEqual(["b", "default"]);

    for (const p of [...four.filter((p) => p !== inB[0]), fifth]) await deprovision(w, p.customerId);
    expect([w.sim.serverCount(), w.sim.serverCount("b")]).toEqual([0, 0]);
  }, 300_000);

  test("the sweep deletes a zombie in project b through b's client", async () => {
    const w = fixture.current;
    const b = createHetznerClient({
      endpoint: w.sim.endpoint,
      token: B_TOKEN,
      budget: new RateLimitBudget(),
    });
    const zombie = await b.servers.create({
      name: "rachel-inobodyknows",
      serverType: "cx23",
      image: "ubuntu-24.04",
      location: "nbg1",
      labels: ownershipLabels("inobodyknows"),
    });
    await pollUntil(async () => (await b.servers.get(zombie.server.id))?.status === "running", {
      timeoutMs: 30_000,
      description: "the zombie to be running (unlocked)",
    });
    const before = w.sim.serverCount("b");
    w.sim.clearRequests();
    const swept = await sweeperFor(w).sweep();
    expect(swept.decisions).toMatchObject([
      { kind: "delete-zombie-server", serverId: zombie.server.id, outcome: "applied" },
    ]);
    // A delete sent to the wrong project would meet 404 and pass for "already gone": it went to b.
    const deletes = w.sim.requests().filter((r) => r.method === "DELETE");
    expect(deletes.map((r) => [r.project, r.status])).toEqual([["b", 200]]);
    await pollUntil(() => w.sim.serverCount("b") === before - 1, {
      timeoutMs: 30_000,
      description: "the zombie to be gone from b",
    });
  }, 60_000);

  test("a project learned full from Hetzner's error sends the provision and the next to the other", async () => {
    const w = fixture.current;
    // Hetzner's real limit for default is 0 servers; the config knows neither project's limit.
    w.sim.setServerLimit(0);
    await w.startWorker(twoProjects(w, { default: null, b: null }));
    const first = await provision(w, "refused-then-moved");
    expect(await w.finish(first.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.instance(first.instanceId)).toMatchObject({ status: "ready", hetznerProject: "b" });
    expect(
      w.sim
        .requests()
        .filter((r) => r.status === 403)
        .map((r) => r.project),
    ).toEqual(["default"]);
    expect(w.runtime.db.select().from(projectCapacity).all()).toMatchObject([{ project: "default" }]);
    // The key it had made in default was removed when it left: nothing of it is left there.
    expect(await w.leftAtHetzner(first.instanceId)).toEqual({ servers: [], sshKeys: [] });

    w.sim.clearRequests();
    const next = await provision(w, "next");
    expect(await w.finish(next.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.instance(next.instanceId)).toMatchObject({ hetznerProject: "b" });
    expect(w.sim.requests().filter((r) => r.project === "default")).toEqual([]);

    for (const p of [first, next]) await deprovision(w, p.customerId);
    w.sim.setServerLimit(null);
    expect(w.sim.serverCount("b")).toBe(0);
  }, 180_000);

  test("a type every location refuses falls back to the next configured type of its architecture", async () => {
    const w = fixture.current;
    for (const location of ["nbg1", "fsn1", "hel1"])
      w.sim.faults.add({ kind: "location_unavailable", location, serverType: "cx23" });
    await w.startWorker(
      twoProjects(w, { default: null, b: null }, { serverTypes: ["cx23", "cax11", "cx33"] }),
    );
    w.sim.clearRequests();
    const customer = await provision(w, "fallback");
    expect(await w.finish(customer.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.instance(customer.instanceId)).toMatchObject({ status: "ready", serverType: "cx33" });
    const creates = w.sim.requests().filter((r) => r.method === "POST" && r.path === "/servers");
    expect(creates.map((r) => r.status)).toEqual([412, 412, 412, 201]);
    await deprovision(w, customer.customerId);
  }, 120_000);

  test("a project that allows any architecture falls back to Arm, booting the arm64 bundle", async () => {
    const w = fixture.current;
    const arm = await ensureStandInBundle(bundleStoreDir(w.runtime.config.dataDir), "arm64");
    for (const location of ["nbg1", "fsn1", "hel1"])
      w.sim.faults.add({ kind: "location_unavailable", location, serverType: "cx23" });
    await w.startWorker(
      twoProjects(w, { default: null, b: null }, { serverTypes: ["cx23", "cax11"], anyArchitecture: true }),
    );
    const customer = await provision(w, "arm");
    expect(await w.finish(customer.operationId, 60_000)).toMatchObject({ status: "succeeded" });
    expect(w.instance(customer.instanceId)).toMatchObject({ serverType: "cax11", bundleId: arm.id });
    await deprovision(w, customer.customerId);
  }, 120_000);

  test("the fallback keeps to the first type's architecture unless the project allows any", () => {
    const types = ["cx23", "cax11", "cx33", "cax21"];
    expect(fallbackTypes({ serverTypes: types, anyArchitecture: false })).toEqual(["cx23", "cx33"]);
    expect(fallbackTypes({ serverTypes: types, anyArchitecture: true })).toEqual(types);
    expect(fallbackTypes({ serverTypes: ["cax11", "cx23"], anyArchitecture: false })).toEqual(["cax11"]);
  });
});
