import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHetznerClient, RateLimitBudget } from "../../hetzner/index.ts";
import { type Harness, startHarness } from "./harness.ts";

const refillPerSecond = 20;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ refillPerSecond });
});
afterAll(async () => {
  await h.sim.stop();
});

test("a storm of concurrent calls from two clients sharing one budget: no failures, no more requests than allowed", async () => {
  const capacity = 5;
  const calls = 40;
  h.sim.setRateLimit({ capacity, refillPerSecond });
  h.sim.clearRequests();
  const sibling = createHetznerClient({ endpoint: h.sim.endpoint, token: h.sim.token, budget: h.budget });
  const started = Date.now();
  const results = await Promise.allSettled(
    Array.from({ length: calls }, (_, i) => (i % 2 === 0 ? h.client : sibling).sshKeys.get(i + 1)),
  );
  const elapsedSeconds = (Date.now() - started) / 1000;

  expect(results.filter((r) => r.status === "rejected")).toEqual([]);
  const served = h.sim.requests();
  const rateLimited = served.filter((r) => r.status === 429).length;
  const allowed = capacity + Math.ceil(elapsedSeconds * refillPerSecond);
  console.log(
    `429 storm: ${calls} calls, ${served.length} requests served in ${elapsedSeconds.toFixed(2)} s (budget allowed ${allowed}), ${rateLimited} answered 429`,
  );
  expect(served.length - rateLimited).toBe(calls);
  expect(served.length).toBeLessThanOrEqual(allowed);
  expect(rateLimited).toBeLessThanOrEqual(2);
  expect(h.budget.stats().rateLimited).toBe(rateLimited);
});

test("after a 429 caused by another tool, the client waits about a refill interval, not until RateLimit-Reset", async () => {
  const slowRefill = { capacity: 50, refillPerSecond: 2 };
  h.sim.setRateLimit(slowRefill);
  const budget = new RateLimitBudget({ refillPerSecond: slowRefill.refillPerSecond });
  const client = createHetznerClient({
    endpoint: h.sim.endpoint,
    token: h.sim.token,
    budget,
    retry: { startingDelayMs: 20, maxDelayMs: 200 },
  });
  // Another tool on the same project drains the bucket.
  let resetAt = 0;
  while (resetAt === 0) {
    const response = await fetch(`${h.sim.endpoint}/locations`, {
      headers: { Authorization: `Bearer ${h.sim.token}` },
    });
    await response.arrayBuffer();
    if (response.status === 429) resetAt = Number(response.headers.get("RateLimit-Reset"));
  }
  const started = Date.now();
  expect(await client.sshKeys.get(1)).toBeNull();
  const waitedMs = Date.now() - started;
  console.log(
    `429 from another tool: recovered in ${waitedMs} ms; RateLimit-Reset was ${resetAt * 1000 - started} ms away`,
  );
  expect(budget.stats().rateLimited).toBeGreaterThanOrEqual(1);
  expect(resetAt * 1000 - started).toBeGreaterThan(20_000);
  expect(waitedMs).toBeLessThan(10_000);
});
