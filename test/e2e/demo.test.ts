/** `bun run demo` as a person runs it: real processes end to end, exit 0, the promised output. */
import { expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { forwardLines } from "../../core/lines.ts";
import { isHttpOk, pollUntil } from "../../core/wait.ts";
import { commandFor, paste, printedCommands, repoRoot } from "./pasted-commands.ts";

const childEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" };

test(
  "bun run demo provisions, prints the phase table, deprovisions, leaves nothing and exits 0",
  async () => {
    const demo = Bun.spawn([process.execPath, "run", "demo"], {
      cwd: repoRoot,
      env: childEnv,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [exitCode, stdout, stderr] = await Promise.all([
      demo.exited,
      new Response(demo.stdout).text(),
      new Response(demo.stderr).text(),
    ]);

    if (exitCode !== 0) throw new Error(`demo exited with ${exitCode}:\n${stdout}\n${stderr}`);
    expect(stdout).toContain("simulator time scale 0.05");
    expect(stdout).toMatch(/provision phases\n {2}phase +attempts +ms\n/);
    expect(stdout).toMatch(/total \(request to finish\) +\d+/);
    expect(stdout).toContain("✓ servers at Hetzner: 0");
    expect(stdout).toContain("✓ SSH keys at Hetzner: 0");
    expect(stdout).toContain("✓ instance status: deprovisioned");
    expect(stdout).not.toContain("✗");
    expect(stdout.trimEnd().endsWith("demo complete")).toBe(true);
  },
  { timeout: 120_000 },
);

test(
  "demo --keep prints commands that work when pasted into another shell, and stops everything on SIGINT",
  async () => {
    // Spawned directly (not through `bun run`) so SIGINT reaches the demo as a terminal's Ctrl-C would.
    const demo = Bun.spawn([process.execPath, "cli/demo.ts", "--keep"], {
      cwd: repoRoot,
      env: childEnv,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    });
    const lines: string[] = [];
    const output = forwardLines(demo.stdout, (line) => lines.push(line));
    try {
      await pollUntil(() => lines.some((line) => line.startsWith("Ctrl-C stops everything")), {
        timeoutMs: 90_000,
        description: "the demo to say it keeps running",
      });
      const valueAfter = (label: string) =>
        lines
          .find((line) => line.startsWith(`  ${label} `))
          ?.slice(label.length + 2)
          .trim() ?? "";
      const apiUrl = /^http:\/\/\S+/.exec(valueAfter("private api"))?.[0] ?? "";
      const dataDir = valueAfter("data").split(" ")[0] ?? "";
      const instanceId = valueAfter("instance").split(" ")[0] ?? "";
      expect(await isHttpOk(`${apiUrl}/healthz`)).toBe(true);
      expect(statSync(join(dataDir, "dev.env")).mode & 0o777).toBe(0o600);
      expect(lines.some((line) => line.includes("deprovision requested"))).toBe(false);

      const printed = printedCommands(lines);
      expect(printed.map((command) => command.what.split(/[:,(]/)[0])).toEqual([
        "the fleet",
        `instance ${instanceId}`,
        "what a reconcile sweep would do now ",
        "the bot's unit on its server",
        "the simulator's machines",
        "the Hetzner API requests the simulator served",
        "register another customer",
        expect.stringMatching(/^cancel demo-[0-9a-f]+'s subscription$/),
        "watch the deprovision ",
      ]);
      const run = (what: string) => paste(commandFor(printed, what));
      // In the order printed, as a person would: the cancel comes last but one, while the machine still runs.
      expect((await run("the fleet")).stdout).toMatch(/ready +1\n/);
      expect((await run("instance ")).stdout).toMatch(/state +ready\n/);
      expect((await run("what a reconcile")).stdout).toContain("nothing to do");
      expect((await run("the bot's unit")).stdout).toContain("Active: active (running)");
      expect(JSON.parse((await run("the simulator's machines")).stdout)).toMatchObject([
        { name: `rachel-${instanceId}` },
      ]);
      expect(JSON.parse((await run("the Hetzner API requests")).stdout)).toContainEqual(
        expect.objectContaining({ method: "POST", path: "/servers", status: 201 }),
      );
      expect(JSON.parse((await run("register another")).stdout)).toMatchObject({ created: true });
      expect(JSON.parse((await run("cancel ")).stdout)).toEqual({ status: "applied" });
      await pollUntil(
        async () => /state +deprovisioned\n/.test((await run("watch the deprovision")).stdout),
        {
          timeoutMs: 30_000,
          intervalMs: 500,
          description: "the cancelled instance to be deprovisioned",
        },
      );
      expect(JSON.parse((await run("the simulator's machines")).stdout)).toEqual([]);

      demo.kill("SIGINT");
      expect(await demo.exited).toBe(0);
      await output;
      expect(await isHttpOk(`${apiUrl}/healthz`)).toBe(false);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      demo.kill("SIGKILL");
    }
  },
  { timeout: 180_000 },
);
