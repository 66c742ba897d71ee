/**
 * From HCLOUD_PROJECTS to `ops status`: the worker builds one client and one rate-limit budget per project,
 * its metrics are labelled by project, and the budgets it records are what `ops status` shows.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { loadConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { fleetStatus } from "../../domain/ops/status.ts";
import { openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import { capacitySettingsOf } from "../../jobs/capacity/line.ts";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { createWorkerHetzner } from "../../worker/hetzner-projects.ts";
import { requiredEnv } from "../core/config-support.ts";

let sim: Simulator;
let database: TestDatabase;
beforeAll(async () => {
  sim = await startSimulator({
    timeScale: 0.01,
    projects: [{ name: "b", token: "token-b", rateLimit: { capacity: 100, refillPerSecond: 0 } }],
  });
  database = openTestDatabase();
});
afterAll(async () => {
  database.close();
  await sim.stop();
});

test("each project's requests go through its own budget; ops status shows servers and requests left per project", async () => {
  const { HCLOUD_TOKEN: _, ...env } = requiredEnv();
  const config = loadConfig({
    ...env,
    HCLOUD_ENDPOINT: sim.endpoint,
    HCLOUD_PROJECTS: JSON.stringify([
      { name: "eu-1", token: sim.token, serverLimit: 5 },
      { name: "eu-2", token: "token-b" },
    ]),
  });
  const metrics = createMetrics();
  const hetzner = createWorkerHetzner(config, { log: createLogger({ level: "silent" }), metrics });
  const projects = hetzner.projects();
  await projects.named("eu-1").client.servers.listAll({});
  await projects.named("eu-2").client.servers.listAll({});
  await projects.named("eu-2").client.sshKeys.listAll({});
  expect(sim.requests().map((r) => r.project)).toEqual(["default", "b", "b"]);

  const before = fleetStatus(database.db, capacitySettingsOf(config)).capacity.projects;
  expect(before.map((p) => p.requestBudget)).toEqual([null, null]);
  hetzner.recordBudgets(database.db)();
  const { projects: seen } = fleetStatus(database.db, capacitySettingsOf(config)).capacity;
  expect(seen).toMatchObject([
    {
      project: "eu-1",
      used: 0,
      limit: 5,
      room: 5,
      requestBudget: { limit: 3600, requests: 1, rateLimited: 0 },
    },
    {
      project: "eu-2",
      used: 0,
      limit: null,
      room: null,
      requestBudget: { limit: 100, remaining: 98, requests: 2 },
    },
  ]);
  expect(seen[0]?.requestBudget?.remaining).toBeGreaterThanOrEqual(3599);

  const text = await metrics.render();
  expect(text).toContain('hetzner_requests_total{project="eu-1",method="GET",outcome="ok"} 1');
  expect(text).toContain('hetzner_requests_total{project="eu-2",method="GET",outcome="ok"} 2');
  expect(text).toContain('hetzner_rate_limit_remaining{project="eu-2"} 98');
});
