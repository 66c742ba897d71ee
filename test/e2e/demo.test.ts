/** `bun run demo` as a person runs it: real processes end to end, exit 0, the promised output. */
import { expect, test } from "bun:test";
import { resolve } from "node:path";

const repoRoot = resolve(import.meta.dir, "../..");

test(
  "bun run demo provisions, prints the phase table, deprovisions, leaves nothing and exits 0",
  async () => {
    const demo = Bun.spawn([process.execPath, "run", "demo"], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" },
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
