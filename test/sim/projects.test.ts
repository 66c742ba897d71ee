/**
 * Several Hetzner projects in one simulator: the token picks the project; each has its own servers, keys,
 * firewalls, request budget and server limit, enforced with Hetzner's 403 resource_limit_exceeded.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Simulator, SimulatorOptionsError, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitForGone, waitForStatus } from "./helpers.ts";

describe("projects", () => {
  let sim: Simulator;
  const other = "token-of-project-b";
  beforeAll(async () => {
    sim = await startSimulator({
      timeScale: 0.001,
      serverLimit: 2,
      projects: [{ name: "b", token: other, rateLimit: { capacity: 4, refillPerSecond: 0 }, serverLimit: 1 }],
    });
  });
  afterAll(() => sim.stop());

  test("each token sees only its own project's resources; ids stay unique across projects", async () => {
    expect(sim.projects.map((p) => p.name)).toEqual(["default", "b"]);
    const a = await call(sim, "POST", "/servers", serverBody("same-name"));
    const b = await call(sim, "POST", "/servers", serverBody("same-name"), other);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.server.id).not.toBe(a.body.server.id);
    const listedByB = await call(sim, "GET", "/servers", undefined, other);
    expect(listedByB.body.servers.map((s: { id: number }) => s.id)).toEqual([b.body.server.id]);
    expect((await call(sim, "GET", `/servers/${a.body.server.id}`, undefined, other)).status).toBe(404);
    expect([sim.serverCount(), sim.serverCount("b")]).toEqual([1, 1]);
    expect(sim.requests().map((r) => r.project)).toEqual(["default", "b", "b", "b"]);
    expect(b.headers.get("RateLimit-Limit")).toBe("4");
    expect(a.headers.get("RateLimit-Limit")).toBe("3600");
  });

  test("a full project answers 403 resource_limit_exceeded until one of its servers is deleted", async () => {
    sim.setRateLimit({ capacity: 100, refillPerSecond: 0 }, "b");
    const refused = await call(sim, "POST", "/servers", serverBody("second-in-b"), other);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      code: "resource_limit_exceeded",
      message: "server limit exceeded",
    });
    // The default project's limit (2) is its own: one more fits there.
    expect((await call(sim, "POST", "/servers", serverBody("second-in-default"))).status).toBe(201);
    expect((await call(sim, "POST", "/servers", serverBody("third-in-default"))).status).toBe(403);

    const [onlyInB] = (await call(sim, "GET", "/servers", undefined, other)).body.servers;
    await waitForStatus(sim, onlyInB.id, "running", other);
    expect((await call(sim, "DELETE", `/servers/${onlyInB.id}`, undefined, other)).status).toBe(200);
    await waitForGone(sim, onlyInB.id, other);
    expect((await call(sim, "POST", "/servers", serverBody("second-in-b"), other)).status).toBe(201);

    sim.setServerLimit(3);
    expect((await call(sim, "POST", "/servers", serverBody("third-in-default"))).status).toBe(201);
  });

  test("an unknown token opens no project", async () => {
    const reply = await call(sim, "GET", "/servers", undefined, "nobody's");
    expect(reply.status).toBe(401);
    expect(sim.requests().at(-1)?.project).toBeNull();
  });
});

test("two projects may not share a name or a token", async () => {
  const clash = startSimulator({ token: "t", projects: [{ name: "b", token: "t" }] });
  await expect(clash).rejects.toThrow(SimulatorOptionsError);
  await expect(startSimulator({ projects: [{ name: "default", token: "x" }] })).rejects.toThrow(
    "two projects share the name 'default'",
  );
});
