import { describe, expect, test } from "bun:test";
import { backoffDelayMs } from "../../worker/runner/backoff.ts";

const policy = { attempts: 10, initialDelayMs: 100, maxDelayMs: 1000 };

describe("backoffDelayMs", () => {
  test("the bound doubles per failed attempt from initialDelayMs and stops at maxDelayMs", () => {
    const bounds = [1, 2, 3, 4, 5, 6].map((failed) => backoffDelayMs(policy, failed, () => 1));
    expect(bounds).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  test("full jitter: the delay is the random fraction of the bound", () => {
    expect(backoffDelayMs(policy, 3, () => 0)).toBe(0);
    expect(backoffDelayMs(policy, 3, () => 0.25)).toBe(100);
  });
});
