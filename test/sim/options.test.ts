import { describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  test("a simulator that cannot start leaves no data directory behind", async () => {
    const scratch = await mkdtemp(join(tmpdir(), "sim-options-"));
    const previous = process.env.TMPDIR;
    // Its disks go to a set TMPDIR, so this one shows what it leaves.
    process.env.TMPDIR = scratch;
    const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    try {
      await expect(startSimulator({ port: busy.port })).rejects.toThrow();
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
      await busy.stop(true);
      await rm(scratch, { recursive: true, force: true });
    }
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
