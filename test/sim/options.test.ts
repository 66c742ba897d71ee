import { describe, expect, test } from "bun:test";
import { SimulatorOptionsError, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitForStatus } from "./helpers.ts";

describe("startSimulator options", () => {
  test("bad options are rejected with every offending option named", async () => {
    const attempt = startSimulator({
      port: 70_000,
      timeScale: -1,
      rateLimit: { capacity: 0, refillPerSecond: 1 },
      timings: { createServerMs: Number.NaN },
    });
    await expect(attempt).rejects.toBeInstanceOf(SimulatorOptionsError);
    const message = await attempt.then(
      () => "",
      (err: Error) => err.message,
    );
    for (const option of ["port", "timeScale", "rateLimit.capacity", "timings.createServerMs"])
      expect(message).toContain(option);
  });

  test("time scale 0 makes every simulated duration instant", async () => {
    const sim = await startSimulator({ timeScale: 0 });
    try {
      const created = await call(sim, "POST", "/servers", serverBody("instant"));
      expect(created.status).toBe(201);
      await waitForStatus(sim, created.body.server.id, "running");
    } finally {
      await sim.stop();
    }
  });
});
