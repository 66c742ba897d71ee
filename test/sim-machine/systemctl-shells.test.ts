/**
 * The simulated systemctl runs its file-only verbs under sh and runs itself again under bash for the verbs
 * that wait for the service manager or tell the time: whichever way it is started, and whatever a unit's
 * name holds, it answers as one program.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import type { Client } from "ssh2";
import { bootedLogin, exec, startTestHost, type TestHost } from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

const UNIT = `[Unit]
Description=Shell switch probe

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
`;

/** One line of output, as the box prints it. */
const line = (text: string) => `${text}\n`;

let env: TestHost;
let rachel: Client;

beforeAll(async () => {
  env = await startTestHost();
  rachel = await bootedLogin(env, { serverId: 51, name: "shells-box", ipv4: "127.77.5.51" });
  const install = await exec(
    rachel,
    "sudo install -m 644 /dev/stdin /etc/systemd/system/probe.service",
    UNIT,
  );
  expect(install).toEqual({ code: 0, stdout: "", stderr: "" });
}, 60_000);
afterAll(async () => {
  rachel?.end();
  await env.cleanup();
});

describe("systemctl under sh and bash", () => {
  test("enable --now and disable --now start and stop the unit, run by path or by sh", async () => {
    const enable = await exec(rachel, "sudo sh /opt/sim/bin/systemctl enable --now probe");
    expect(enable).toEqual({
      code: 0,
      stdout: "",
      stderr:
        "Created symlink /etc/systemd/system/multi-user.target.wants/probe.service → /etc/systemd/system/probe.service.\n",
    });
    expect(await exec(rachel, "systemctl is-active probe; systemctl is-enabled probe")).toEqual({
      code: 0,
      stdout: "active\nenabled\n",
      stderr: "",
    });
    const status = await exec(rachel, "systemctl status probe");
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("● probe.service - Shell switch probe\n");
    expect(status.stdout).toContain("Active: active (running) since ");

    const disable = await exec(rachel, "sudo /opt/sim/bin/systemctl disable --now probe.service");
    expect(disable).toEqual({
      code: 0,
      stdout: "",
      stderr: 'Removed "/etc/systemd/system/multi-user.target.wants/probe.service".\n',
    });
    expect(await exec(rachel, "systemctl is-active probe")).toEqual({
      code: 3,
      stdout: "inactive\n",
      stderr: "",
    });
  });

  test.if(existsSync("/usr/bin/systemctl"))("restarts a unit at the host's absolute path", async () => {
    expect(
      await exec(rachel, "sudo /usr/bin/systemctl restart probe && /usr/bin/systemctl is-active probe"),
    ).toEqual({ code: 0, stdout: "active\n", stderr: "" });
    expect((await exec(rachel, "sudo systemctl stop probe")).code).toBe(0);
  });

  test("a unit name's backslashes are printed as given, by every verb", async () => {
    expect(await exec(rachel, String.raw`systemctl is-active 'dev-disk\x2dx' 'a\\b\c'`)).toEqual({
      code: 3,
      stdout: "inactive\ninactive\n",
      stderr: "",
    });
    expect(await exec(rachel, String.raw`systemctl enable 'a\nb\\c'`)).toEqual({
      code: 1,
      stdout: "",
      stderr: line(String.raw`Failed to enable unit: Unit file a\nb\\c.service does not exist.`),
    });
    expect(await exec(rachel, String.raw`systemctl is-enabled 'x\tz'`)).toEqual({
      code: 1,
      stdout: "",
      stderr: line(String.raw`Failed to get unit file state for x\tz.service: No such file or directory`),
    });
    expect(await exec(rachel, String.raw`sudo systemctl start 'x\tz'`)).toEqual({
      code: 5,
      stdout: "",
      stderr: line(String.raw`Failed to start x\tz.service: Unit x\tz.service not found.`),
    });
    expect(await exec(rachel, String.raw`systemctl 'fr\tob'`)).toEqual({
      code: 1,
      stdout: "",
      stderr: line(String.raw`systemctl: 'fr\tob' is not supported by the simulated machine`),
    });
  });
});
