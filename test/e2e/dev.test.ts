/**
 * `bun run dev` as a person runs it on a fresh clone: no Hetzner settings starts the built-in simulator,
 * and every command it prints works when pasted into another shell; a Hetzner setting switches it off.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { forwardLines } from "../../core/lines.ts";
import { isHttpOk, pollUntil } from "../../core/wait.ts";
import { freePorts } from "../../harness/support/processes.ts";
import { commandFor, paste, printedCommands, repoRoot, shellEnv } from "./pasted-commands.ts";

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "rachel-dev-test-"));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

interface RunningDev {
  process: Subprocess<"ignore", "pipe", "inherit">;
  lines: string[];
  output: Promise<void>;
}

/** Starts `bun cli/dev.ts` on free ports with only `extra` besides a person's PATH and HOME; waits until ready. */
async function startDev(extra: Record<string, string> = {}): Promise<RunningDev> {
  const [api, broker, brokerHttp, metrics] = await freePorts(4);
  const dev = Bun.spawn([process.execPath, "cli/dev.ts"], {
    cwd: repoRoot,
    env: {
      ...shellEnv,
      DATA_DIR: dataDir,
      API_PORT: String(api),
      BROKER_PORT: String(broker),
      BROKER_HTTP_PORT: String(brokerHttp),
      WORKER_METRICS_PORT: String(metrics),
      ...extra,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  const lines: string[] = [];
  const output = forwardLines(dev.stdout, (line) => lines.push(line));
  await pollUntil(
    () => {
      if (dev.exitCode !== null) throw new Error(`dev exited with ${dev.exitCode}:\n${lines.join("\n")}`);
      return lines.some((line) => line.startsWith("[dev] ready: "));
    },
    { timeoutMs: 60_000, description: "bun run dev to be ready" },
  );
  return { process: dev, lines, output };
}

/** Ctrl-C, as a terminal sends it; dev stops its services (in their own process groups) before exiting. */
async function interrupt(dev: RunningDev): Promise<number> {
  dev.process.kill("SIGINT");
  const code = await Promise.race([dev.process.exited, Bun.sleep(40_000).then(() => -1)]);
  await dev.output;
  return code;
}

test(
  "without Hetzner settings dev runs the simulator, and its printed commands provision a customer",
  async () => {
    const dev = await startDev();
    try {
      expect(dev.lines[0]).toStartWith(
        "[dev] no Hetzner settings (HCLOUD_TOKEN, HCLOUD_TOKEN_FILE, HCLOUD_ENDPOINT)",
      );
      expect(dev.lines[0]).toContain("built-in simulator");
      const simBaseUrl = /simulator at (http:\/\/\S+)\/v1 /.exec(dev.lines.join("\n"))?.[1] ?? "";
      expect(await isHttpOk(`${simBaseUrl}/_sim/machines`)).toBe(true);

      const printed = printedCommands(dev.lines);
      const run = (what: string) => paste(commandFor(printed, what));
      expect(printed.map(({ what }) => what.split(/[:,(]/)[0])).toEqual([
        "the fleet",
        "the instances",
        "what a reconcile sweep would do now ",
        "the simulator's machines",
        "the Hetzner API requests the simulator served",
        "register another customer",
        expect.stringMatching(/^pay for cus_[0-9a-f]+$/),
        "watch the provision",
      ]);
      expect((await run("the fleet")).stdout).toMatch(/ready +0\n/);
      expect((await run("the instances")).stdout).toContain("instance");
      expect((await run("what a reconcile")).stdout).toContain("nothing to do");
      expect(JSON.parse((await run("the simulator's machines")).stdout)).toEqual([]);
      expect(JSON.parse((await run("the Hetzner API requests")).stdout)).toBeArray();
      expect(JSON.parse((await run("register another")).stdout)).toMatchObject({ created: true });
      expect(JSON.parse((await run("pay for")).stdout)).toEqual({ status: "applied" });
      await pollUntil(async () => / ready +cus_/.test((await run("watch the provision")).stdout), {
        timeoutMs: 60_000,
        intervalMs: 500,
        description: "the paid customer's instance to be ready",
      });
      expect(JSON.parse((await run("the simulator's machines")).stdout)).toHaveLength(1);

      expect(await interrupt(dev)).toBe(0);
      expect(await isHttpOk(`${simBaseUrl}/_sim/machines`)).toBe(false);
    } finally {
      dev.process.kill("SIGKILL");
    }
  },
  { timeout: 180_000 },
);

test(
  "a Hetzner setting switches the simulator off; the printed signed event cancels instead of paying",
  async () => {
    // Nothing listens there: dev must start without calling Hetzner, and the commands must not need it.
    const dev = await startDev({
      HCLOUD_TOKEN: "not-a-real-token",
      HCLOUD_ENDPOINT: "http://127.0.0.1:9/v1",
    });
    try {
      expect(dev.lines[0]).toBe("[dev] using Hetzner at http://127.0.0.1:9/v1");
      expect(dev.lines.join("\n")).not.toContain("simulator");
      const printed = printedCommands(dev.lines);
      expect(printed.map(({ command }) => command).join("\n")).not.toContain("/_sim/");
      expect((await paste(commandFor(printed, "the fleet"))).stdout).toMatch(/ready +0\n/);
      expect(JSON.parse((await paste(commandFor(printed, "register another"))).stdout)).toMatchObject({
        created: true,
      });
      expect(
        JSON.parse((await paste(commandFor(printed, "a signed Standard Webhooks event"))).stdout),
      ).toEqual({
        status: "applied",
      });
      expect(await interrupt(dev)).toBe(0);
    } finally {
      dev.process.kill("SIGKILL");
    }
  },
  { timeout: 120_000 },
);

test(
  "a secret set in the shell, which the commands would not read from dev.env, means no commands are printed",
  async () => {
    const dev = await startDev({
      HCLOUD_TOKEN: "not-a-real-token",
      HCLOUD_ENDPOINT: "http://127.0.0.1:9/v1",
      OPS_TOKEN: "an-operator-token-set-in-the-shell-itself",
    });
    try {
      expect(dev.lines).toContain(
        `[dev] no commands to try printed: they read ${join(dataDir, "dev.env")}, but your environment sets OPS_TOKEN`,
      );
      expect(dev.lines.some((line) => line.startsWith("try next"))).toBe(false);
      expect(await interrupt(dev)).toBe(0);
    } finally {
      dev.process.kill("SIGKILL");
    }
  },
  { timeout: 120_000 },
);
