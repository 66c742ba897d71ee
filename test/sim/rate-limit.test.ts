import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TokenBucket } from "../../sim/api/rate-limit.ts";
import { type Simulator, startSimulator } from "../../sim/index.ts";
import { call } from "./helpers.ts";

describe("TokenBucket", () => {
  test("spends, refuses when empty, refills per second and reports the second of full recovery", () => {
    let now = 1_000_000;
    const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 1 }, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    expect(bucket.headers()).toEqual({
      "RateLimit-Limit": "3",
      "RateLimit-Remaining": "0",
      "RateLimit-Reset": String(1_000 + 3),
    });
    now += 1_500;
    expect(bucket.headers()["RateLimit-Remaining"]).toBe("1");
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    now += 60_000;
    expect(bucket.headers()["RateLimit-Remaining"]).toBe("3");
  });

  test("a bucket may start spent, and a reset starts it as its new settings say", () => {
    let now = 1_000_000;
    const bucket = new TokenBucket({ capacity: 3600, refillPerSecond: 100, initialTokens: 0 }, () => now);
    expect(bucket.take()).toBe(false);
    now += 20;
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    bucket.reset({ capacity: 10, refillPerSecond: 1 });
    expect(bucket.headers()["RateLimit-Remaining"]).toBe("10");
    bucket.reset({ capacity: 10, refillPerSecond: 1, initialTokens: 4 });
    expect(bucket.headers()["RateLimit-Remaining"]).toBe("4");
  });
});

describe("rate limit over HTTP", () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ timeScale: 0.001, rateLimit: { capacity: 5, refillPerSecond: 0.5 } });
  });
  afterAll(() => sim.stop());

  test("every /v1 response carries the headers; an empty bucket answers 429 rate_limit_exceeded", async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = await call(sim, "GET", "/locations");
      expect(reply.status).toBe(200);
      expect(reply.headers.get("RateLimit-Limit")).toBe("5");
      expect(reply.headers.get("X-Correlation-Id")).toMatch(/^[0-9a-f-]{36}$/);
      remaining.push(reply.headers.get("RateLimit-Remaining") ?? "");
    }
    expect(remaining).toEqual(["4", "3", "2", "1", "0"]);
    const refused = await call(sim, "GET", "/locations");
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("rate_limit_exceeded");
    expect(refused.headers.get("RateLimit-Remaining")).toBe("0");
    const reset = Number(refused.headers.get("RateLimit-Reset"));
    const nowSeconds = Date.now() / 1000;
    // Five missing tokens at 0.5/s: full again about 10 s from now.
    expect(reset).toBeGreaterThan(nowSeconds + 8);
    expect(reset).toBeLessThanOrEqual(Math.ceil(nowSeconds + 10) + 1);
    const unauthorized = await call(sim, "GET", "/locations", undefined, "wrong");
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("RateLimit-Limit")).toBe("5");
    expect(sim.requests().filter((r) => r.status === 429)).toHaveLength(1);
  });

  test("setRateLimit replaces the limit and refills the bucket; so does PUT /_sim/rate-limit", async () => {
    sim.setRateLimit({ capacity: 2, refillPerSecond: 0 });
    expect((await call(sim, "GET", "/locations")).headers.get("RateLimit-Remaining")).toBe("1");
    await call(sim, "GET", "/locations");
    expect((await call(sim, "GET", "/locations")).status).toBe(429);
    const put = await fetch(`${sim.baseUrl}/_sim/rate-limit`, {
      method: "PUT",
      body: JSON.stringify({ capacity: 10, refillPerSecond: 1 }),
    });
    expect(put.status).toBe(200);
    const after = await call(sim, "GET", "/locations");
    expect([after.status, after.headers.get("RateLimit-Remaining")]).toEqual([200, "9"]);
    const bad = await fetch(`${sim.baseUrl}/_sim/rate-limit`, { method: "PUT", body: '{"capacity":0}' });
    expect(bad.status).toBe(400);
  });
});
