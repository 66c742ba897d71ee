/** `bun run demo` as a person runs it: real processes end to end, exit 0, the promised output. */
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { forwardLines } from "../../cli/lines.ts";
import { isHttpOk, pollUntil } from "../../cli/wait.ts";

const repoRoot = resolve(import.meta.dir, "../..");
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
  "demo --keep stays up with the api and simulator answering until SIGINT, then stops them and exits 0",
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
      await pollUntil(() => lines.some((line) => line.startsWith("  instance ")), {
        timeoutMs: 90_000,
        description: "the demo to say it keeps running",
      });
      const urlAfter = (label: string) =>
        /https?:\/\/\S+/.exec(lines.find((l) => l.startsWith(`  ${label}`)) ?? "")?.[0];
      const apiUrl = urlAfter("api");
      const simEndpoint = urlAfter("simulator");
      if (!apiUrl || !simEndpoint) throw new Error(`no URLs printed:\n${lines.join("\n")}`);
      expect(await isHttpOk(`${apiUrl}/healthz`)).toBe(true);
      expect(await isHttpOk(`${simEndpoint.replace(/\/v1$/, "")}/_sim/machines`)).toBe(true);
      expect(lines.some((line) => line.includes("deprovision requested"))).toBe(false);

      demo.kill("SIGINT");
      expect(await demo.exited).toBe(0);
      await output;
      expect(await isHttpOk(`${apiUrl}/healthz`)).toBe(false);
      expect(await isHttpOk(`${simEndpoint.replace(/\/v1$/, "")}/_sim/machines`)).toBe(false);
    } finally {
      demo.kill("SIGKILL");
    }
  },
  { timeout: 120_000 },
);
