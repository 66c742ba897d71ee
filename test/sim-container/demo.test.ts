/**
 * `bun run demo --machines container`, as a person runs it: one customer's bot provisioned on a real Debian 13
 * machine in the simulator's lab and deprovisioned, with nothing left. Needs root, debootstrap and
 * systemd-container (.ci/install-tools); in CI it runs, never skips.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { missingContainerRequirements } from "../../sim/container/requirements.ts";
import { runCommand } from "../support/run-command.ts";

const inCi = process.env.CI === "true";
const missing = missingContainerRequirements();

test.skipIf(missing.length > 0 && !inCi)(
  "the demo provisions on a real machine and leaves nothing",
  async () => {
    if (missing.length > 0) throw new Error(`container machines need: ${missing.join("; ")}`);
    const started = performance.now();
    const demo = await runCommand(["bun", "run", "--silent", "demo", "--machines", "container"], {
      cwd: join(import.meta.dir, "../.."),
      timeoutMs: 540_000,
    });
    console.info(`demo --machines container ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // stderr carries the root filesystem's build progress when this run is the first.
    if (demo.exitCode !== 0) throw new Error(`demo exited ${demo.exitCode}:\n${demo.stdout}\n${demo.stderr}`);
    expect(demo.stdout).toMatch(
      /^real machines: (Debian 13 containers booted by systemd-nspawn|the Debian 13 root filesystem is built first)/m,
    );
    // The server's address is the container's, on the lab's bridge.
    expect(demo.stdout).toMatch(/instance \w+: ready, server rachel-\w+ \(#\d+\) at 10\.\d+\.\d+\.\d+ in /);
    expect(demo.stdout).toContain("✓ servers at Hetzner: 0");
    expect(demo.stdout).toMatch(/demo complete\n$/);
  },
  600_000,
);
