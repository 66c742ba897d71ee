import { describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimulatorOptionsError, startSimulator } from "../../sim/index.ts";
import { call, serverBody, waitForStatus } from "./helpers.ts";

/** What `run` leaves in a private TMPDIR, where a simulator puts its disks when TMPDIR is set. */
async function leftInTmpdir(run: () => Promise<void>): Promise<string[]> {
  const scratch = await mkdtemp(join(tmpdir(), "sim-options-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  try {
    await run();
    return await readdir(scratch);
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    await rm(scratch, { recursive: true, force: true });
  }
}

describe("startSimulator options", () => {
  test("bad options are rejected with every offending option named", async () => {
    const attempt = startSimulator({
      port: 70_000,
      timeScale: -1,
      rateLimit: { capacity: 0, refillPerSecond: 1 },
      timings: { createServerMs: Number.NaN },
      machines: "vm" as "container",
    });
    await expect(attempt).rejects.toBeInstanceOf(SimulatorOptionsError);
    const message = await attempt.then(
      () => "",
      (err: Error) => err.message,
    );
    for (const option of ["port", "timeScale", "rateLimit.capacity", "timings.createServerMs", "machines"])
      expect(message).toContain(option);
  });

  test("a simulator that cannot start leaves no data directory behind", async () => {
    const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    try {
      const left = await leftInTmpdir(async () => {
        await expect(startSimulator({ port: busy.port })).rejects.toThrow();
      });
      expect(left).toEqual([]);
    } finally {
      await busy.stop(true);
    }
  });

  test("a simulator stopped at once, while it still probes its sandbox, leaves no data directory", async () => {
    const left = await leftInTmpdir(async () => {
      for (let i = 0; i < 5; i++) await (await startSimulator()).stop();
    });
    expect(left).toEqual([]);
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
