import { describe, expect, test } from "bun:test";
import { RateLimitBudget } from "../../hetzner/rate-limit.ts";

function headers(limit: number, remaining: number): Headers {
  return new Headers({
    "RateLimit-Limit": String(limit),
    "RateLimit-Remaining": String(remaining),
    "RateLimit-Reset": "1700000000",
  });
}

function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("RateLimitBudget", () => {
  test("probes with one request until the first response reports the bucket", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now });
    expect(budget.remaining()).toBeNull();
    const first = await budget.acquire();
    expect(budget.delayMs()).toBe(Number.POSITIVE_INFINITY);
    first.settle({ status: 200, headers: headers(3600, 3599) });
    expect(budget.remaining()).toBe(3599);
    expect(budget.delayMs()).toBe(0);
  });

  test("counts in-flight requests against the remaining budget", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now });
    (await budget.acquire()).settle({ status: 200, headers: headers(10, 3) });
    const held = [await budget.acquire(), await budget.acquire()];
    expect(budget.remaining()).toBe(1);
    expect(budget.stats().inFlight).toBe(2);
    held[0]?.settle({ status: 200, headers: headers(10, 2) });
    expect(budget.remaining()).toBe(1);
    held[1]?.settle({ status: 200, headers: headers(10, 1) });
    expect(budget.remaining()).toBe(1);
  });

  test("when empty, waits one refill interval per request needed", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now, refillPerSecond: 1 });
    (await budget.acquire()).settle({ status: 429, headers: headers(3600, 0) });
    expect(budget.stats().rateLimited).toBe(1);
    expect(budget.delayMs()).toBe(1000);
    clock.advance(400);
    expect(budget.delayMs()).toBe(600);
    clock.advance(600);
    expect(budget.delayMs()).toBe(0);
  });

  test("the refill rate scales the wait", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now, refillPerSecond: 20 });
    (await budget.acquire()).settle({ status: 200, headers: headers(5, 0) });
    expect(budget.delayMs()).toBe(50);
  });

  test("refill never exceeds the reported limit", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now });
    (await budget.acquire()).settle({ status: 200, headers: headers(5, 0) });
    clock.advance(60_000);
    expect(budget.remaining()).toBe(5);
  });

  test("responses arriving in another order than the server processed them never inflate the estimate", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now });
    (await budget.acquire()).settle({ status: 200, headers: headers(5, 4) });
    const [a, b, c, d] = [
      await budget.acquire(),
      await budget.acquire(),
      await budget.acquire(),
      await budget.acquire(),
    ];
    // The server handled b, c, d before a, but a's answer (remaining 0) arrives last.
    b?.settle({ status: 200, headers: headers(5, 3) });
    c?.settle({ status: 200, headers: headers(5, 2) });
    d?.settle({ status: 200, headers: headers(5, 1) });
    a?.settle({ status: 200, headers: headers(5, 0) });
    expect(budget.remaining()).toBe(0);
  });

  test("a lone response resets the estimate to the server's count, up or down", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now });
    (await budget.acquire()).settle({ status: 200, headers: headers(100, 10) });
    (await budget.acquire()).settle({ status: 200, headers: headers(100, 40) });
    expect(budget.remaining()).toBe(40);
    (await budget.acquire()).settle({ status: 200, headers: headers(100, 3) });
    expect(budget.remaining()).toBe(3);
  });

  test("a request without a response is assumed to have been counted", async () => {
    const clock = fakeClock();
    const budget = new RateLimitBudget({ now: clock.now });
    (await budget.acquire()).settle({ status: 200, headers: headers(100, 50) });
    (await budget.acquire()).settle(null);
    expect(budget.remaining()).toBe(49);
    expect(budget.stats().requests).toBe(2);
  });

  test("grants queued requests in order as the bucket refills, on a real timer", async () => {
    const budget = new RateLimitBudget({ refillPerSecond: 100 });
    (await budget.acquire()).settle({ status: 200, headers: headers(5, 0) });
    const order: number[] = [];
    const grants = [1, 2, 3].map((n) =>
      budget.acquire().then((permit) => {
        order.push(n);
        permit.settle({ status: 200, headers: headers(5, 0) });
      }),
    );
    expect(budget.stats().waiting).toBe(3);
    await Promise.all(grants);
    expect(order).toEqual([1, 2, 3]);
  });

  test("an aborted wait leaves the queue and rejects with the signal's reason", async () => {
    const budget = new RateLimitBudget({ refillPerSecond: 0.001 });
    (await budget.acquire()).settle({ status: 429, headers: headers(5, 0) });
    const controller = new AbortController();
    const waiting = budget.acquire(controller.signal);
    expect(budget.stats().waiting).toBe(1);
    controller.abort(new Error("shutting down"));
    await expect(waiting).rejects.toThrow("shutting down");
    expect(budget.stats().waiting).toBe(0);
  });
});
