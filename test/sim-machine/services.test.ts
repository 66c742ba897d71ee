/**
 * systemctl start really runs the unit's ExecStart in the box, supervised: the provisioner's Rachel8 unit
 * with the stand-in Rachel8 stays active on a valid .env and crash-loops into `failed` on an invalid one.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Client } from "ssh2";
import { RACHEL8_UNIT_NAME, rachel8Unit, renderEnv } from "../../domain/rachel8.ts";
import type { Machine } from "../../sim/machine-contract.ts";
import { waitFor } from "../sim/helpers.ts";
import { installStandInRelease } from "./stand-in-release.ts";
import { bootAndSettle, cloudConfig, connect, exec, startTestHost, type TestHost } from "./support.ts";

// Sandboxed commands take tens of ms each and first boot runs a few dozen; leave room for a loaded box.
setDefaultTimeout(30_000);

const VALID_ENV = renderEnv({
  telegramBotToken: `123456789:${"A".repeat(35)}`,
  ownerTelegramUserId: 42,
  sharedFolderPath: "/home/rachel/shared",
  nodeEnv: "production",
  logLevel: "info",
  aiProvider: "claudecode",
});
const UNIT = rachel8Unit({ user: "rachel", home: "/home/rachel" });

let env: TestHost;
let machine: Machine;
let rachel: Client;

const state = async () => (await exec(rachel, "systemctl is-active rachel8")).stdout.trim();

beforeAll(async () => {
  env = await startTestHost();
  machine = await env.host.create({
    serverId: 81,
    name: "services",
    ipv4: "127.77.8.81",
    userData: cloudConfig(),
  });
  const view = await bootAndSettle(machine);
  expect(view.cloudInit.state).toBe("done");
  rachel = await connect(view);
  await installStandInRelease((command, stdin) => exec(rachel, command, stdin));
  const install = await exec(
    rachel,
    `sudo tee /etc/systemd/system/${RACHEL8_UNIT_NAME} >/dev/null && sudo systemctl daemon-reload`,
    UNIT,
  );
  expect(install.code).toBe(0);
}, 60_000);
afterAll(async () => {
  rachel?.end();
  await env.cleanup();
});

describe("supervised units", () => {
  test("a valid .env: Rachel8 runs as the unit's user in its checkout and stays active", async () => {
    expect((await exec(rachel, "cat > ~/rachel8/.env && chmod 600 ~/rachel8/.env", VALID_ENV)).code).toBe(0);
    expect(await exec(rachel, "sudo systemctl start rachel8")).toEqual({ code: 0, stdout: "", stderr: "" });
    await waitFor("the startup line", async () => {
      const journal = await exec(rachel, "journalctl -u rachel8 -o cat");
      return journal.stdout.includes("Rachel8 started") ? journal : undefined;
    });
    // Restart=on-failure would have shown a crash by now (RestartSec is 5 ms at this time scale).
    for (let check = 0; check < 3; check++) expect(await state()).toBe("active");
    const journal = await exec(rachel, "journalctl -u rachel8 -n 3 --no-pager");
    expect(journal.stdout).toMatch(/ services systemd\[1\]: Started rachel8\.service - Rachel8 personal AI/);
    // The unit's environment finds the stand-in CLI at /usr/local/bin; no credentials were written here.
    expect(journal.stdout).toMatch(
      / services rachel8\[\d+\]: Rachel8: claudecode is logged out\. Run \/login to reconnect\.\n.* services rachel8\[\d+\]: Rachel8 started: Telegram bot polling \(NODE_ENV=production, LOG_LEVEL=info, AI_PROVIDER=claudecode\)\n$/,
    );
    const status = await exec(rachel, "systemctl status rachel8");
    expect(status.stdout).toContain("Active: active (running)\n");
  });

  test("stop sends SIGTERM and the unit ends inactive; restart starts it again", async () => {
    expect((await exec(rachel, "sudo systemctl stop rachel8")).code).toBe(0);
    expect(await state()).toBe("inactive");
    const journal = await exec(rachel, "journalctl -u rachel8 -n 3 -o cat");
    expect(journal.stdout).toMatch(
      /Stopping rachel8\.service.*\.\.\.\nRachel8: shutting down\nStopped rachel8/s,
    );
    expect((await exec(rachel, "sudo systemctl restart rachel8")).code).toBe(0);
    expect(await state()).toBe("active");
  });

  test("an invalid .env: exit 1, restarts every RestartSec, then failed after StartLimitBurst; journalctl says why", async () => {
    const invalid = VALID_ENV.replace(/^TELEGRAM_BOT_TOKEN=.*$/m, "TELEGRAM_BOT_TOKEN=not-a-token").replace(
      "LOG_LEVEL=info",
      "LOG_LEVEL=verbose",
    );
    expect((await exec(rachel, "cat > ~/rachel8/.env && chmod 600 ~/rachel8/.env", invalid)).code).toBe(0);
    // Earlier starts count toward the start limit too; clear them so the loop below is the whole story.
    await exec(rachel, "sudo systemctl stop rachel8 && sudo systemctl reset-failed rachel8");
    expect((await exec(rachel, "sudo systemctl start rachel8")).code).toBe(0);
    await waitFor("the start limit", async () => ((await state()) === "failed" ? true : undefined));
    expect(await exec(rachel, "systemctl is-active rachel8")).toEqual({
      code: 3,
      stdout: "failed\n",
      stderr: "",
    });
    const journal = (await exec(rachel, "sudo journalctl -u rachel8 -n 40 -o cat")).stdout;
    expect(journal).toContain("Invalid environment configuration:\n  TELEGRAM_BOT_TOKEN: must look like");
    expect(journal).toContain("  LOG_LEVEL: must be one of debug, info, warn, error\n");
    expect(journal).not.toContain("not-a-token");
    expect(journal).toContain("rachel8.service: Main process exited, code=exited, status=1/FAILURE\n");
    expect(journal).toContain("rachel8.service: Scheduled restart job, restart counter is at 5.\n");
    expect(journal).not.toContain("restart counter is at 6.");
    expect(journal).toContain(
      "rachel8.service: Start request repeated too quickly.\nrachel8.service: Failed with result 'start-limit-hit'.\n",
    );
    // The start limit holds for manual starts too, until reset-failed.
    expect((await exec(rachel, "sudo systemctl start rachel8")).code).toBe(1);
    expect((await exec(rachel, "sudo systemctl reset-failed rachel8")).code).toBe(0);
    expect(await state()).toBe("inactive");
  });

  test("a missing .env: Rachel8 exits 0 and the unit is inactive, not restarted", async () => {
    await exec(rachel, "rm ~/rachel8/.env");
    const unconditioned = UNIT.replace(/^ConditionPathExists=.*\n/m, "");
    await exec(rachel, "sudo tee /etc/systemd/system/bare.service >/dev/null", unconditioned);
    expect((await exec(rachel, "sudo systemctl start bare")).code).toBe(0);
    await waitFor("the exit", async () => {
      const journal = await exec(rachel, "journalctl -u bare -o cat");
      return journal.stdout.includes("Deactivated successfully") ? journal : undefined;
    });
    expect(await exec(rachel, "systemctl is-active bare")).toEqual({
      code: 3,
      stdout: "inactive\n",
      stderr: "",
    });
  });

  test("an ExecStart that does not exist crash-loops into failed, and the journal says why", async () => {
    const broken = UNIT.replace("/opt/rachel8/current/bin/bun", "/opt/nowhere/bun").replace(
      /^ConditionPathExists=.*\n/m,
      "",
    );
    await exec(rachel, "sudo tee /etc/systemd/system/broken.service >/dev/null", broken);
    await exec(rachel, "sudo systemctl start broken");
    await waitFor("the start limit", async () =>
      (await exec(rachel, "systemctl is-active broken")).stdout === "failed\n" ? true : undefined,
    );
    const journal = (await exec(rachel, "journalctl -u broken -o cat")).stdout;
    expect(journal).toContain("/opt/nowhere/bun: No such file or directory\n");
    expect(journal).toContain("broken.service: Failed with result 'start-limit-hit'.\n");
  });

  test("destroying the machine ends its services", async () => {
    await exec(rachel, "cat > ~/rachel8/.env && chmod 600 ~/rachel8/.env", VALID_ENV);
    await exec(rachel, "sudo systemctl start rachel8");
    expect(await state()).toBe("active");
    const sandboxDir = machine.view().sandboxDir;
    rachel.end();
    await machine.destroy();
    const leftovers = Bun.spawnSync(["pgrep", "-f", sandboxDir]).stdout.toString().trim();
    expect(leftovers).toBe("");
  });
});
