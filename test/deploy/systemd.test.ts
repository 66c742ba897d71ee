import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const unitsDir = join(import.meta.dir, "../../deploy/systemd");
const systemdAnalyze = Bun.which("systemd-analyze");
/** Where the units expect bun on a server; verify needs ExecStart's binary to exist, so copies point at ours. */
const INSTALLED_BUN = "/usr/local/bin/bun";
const workDir = mkdtempSync(join(tmpdir(), "units-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const unitNames = readdirSync(unitsDir).filter((name) => /\.(service|timer)$/.test(name));
/** The long-running processes; rachel-backup.service is a oneshot its timer starts. */
const processUnits = ["rachel-api.service", "rachel-broker.service", "rachel-worker.service"];

describe("deploy/systemd units", () => {
  test("there is one unit per process, and the backup's service and timer", () => {
    expect(unitNames.sort()).toEqual([
      "rachel-api.service",
      "rachel-backup.service",
      "rachel-backup.timer",
      "rachel-broker.service",
      "rachel-worker.service",
    ]);
  });

  // Missing tool: skip on a developer machine, but CI must install it rather than pass silently.
  const verifyTest = systemdAnalyze || process.env.CI === "true" ? test : test.skip;
  verifyTest("systemd-analyze verify prints nothing for any unit", () => {
    if (!systemdAnalyze) throw new Error("systemd-analyze is not installed (apt-get install systemd)");
    const copies = unitNames.map((name) => {
      const text = readFileSync(join(unitsDir, name), "utf8");
      if (name.endsWith(".service")) expect(text).toContain(`ExecStart=${INSTALLED_BUN} `);
      const copy = join(workDir, name);
      writeFileSync(copy, text.replaceAll(INSTALLED_BUN, process.execPath));
      return copy;
    });
    const result = Bun.spawnSync([systemdAnalyze, "verify", ...copies], { cwd: workDir });
    const output = `${result.stdout.toString()}${result.stderr.toString()}`;
    expect(output).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("the backup runs hourly, catches up after downtime, and may write only DATA_DIR and the backups", () => {
    const timer = readFileSync(join(unitsDir, "rachel-backup.timer"), "utf8");
    expect(timer).toMatch(/^OnCalendar=hourly$/m);
    expect(timer).toMatch(/^Persistent=true$/m);
    const service = readFileSync(join(unitsDir, "rachel-backup.service"), "utf8");
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(service).toMatch(/^User=rachel$/m);
    expect(service).toMatch(
      /^ReadWritePaths=\/var\/lib\/rachel-provisioner \/var\/backups\/rachel-provisioner$/m,
    );
    expect(service).toMatch(/^ProtectSystem=strict$/m);
  });

  test.each(processUnits)("%s stops gracefully and restarts on failure", (name) => {
    const text = readFileSync(join(unitsDir, name), "utf8");
    expect(text).toMatch(/^KillSignal=SIGTERM$/m);
    expect(text).toMatch(/^Restart=on-failure$/m);
    expect(text).toMatch(/^User=rachel$/m);
    expect(text).toMatch(/^ReadWritePaths=\/var\/lib\/rachel-provisioner$/m);
    expect(text).toMatch(/^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$/m);
    const stopSeconds = Number(/^TimeoutStopSec=(\d+)$/m.exec(text)?.[1]);
    // The worker's default shutdown bound is 20 s (SHUTDOWN_TIMEOUT_MS); systemd must not SIGKILL earlier.
    expect(stopSeconds).toBeGreaterThanOrEqual(25);
  });
});
