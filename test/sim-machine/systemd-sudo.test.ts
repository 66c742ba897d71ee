import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Client } from "ssh2";
import type { MachineView } from "../../sim/machine-contract.ts";
import {
  bootAndSettle,
  cloudConfig,
  connect,
  exec,
  startTestHost,
  type TestHost,
  userKey,
} from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

const UNIT = `[Unit]
Description=Rachel8 bot
ConditionPathExists=/home/rachel/.env

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
`;

let env: TestHost;
let view: MachineView;
let rachel: Client;

beforeAll(async () => {
  env = await startTestHost();
  const userData = cloudConfig(`  - name: bob\n    ssh_authorized_keys: ["${userKey.public}"]\n`);
  const machine = await env.host.create({ serverId: 21, name: "unit-box", ipv4: "127.77.2.21", userData });
  view = await bootAndSettle(machine);
  rachel = await connect(view);
});
afterAll(async () => {
  rachel.end();
  await env.cleanup();
});

describe("systemctl", () => {
  test("enable, a start blocked by ConditionPathExists, then a real start, as systemd reports them", async () => {
    const install = await exec(rachel, "sudo tee /etc/systemd/system/rachel8.service >/dev/null", UNIT);
    expect(install).toEqual({ code: 0, stdout: "", stderr: "" });
    const enable = await exec(rachel, "sudo systemctl daemon-reload && sudo systemctl enable rachel8");
    expect(enable).toEqual({ code: 0, stdout: "", stderr: "" });

    expect((await exec(rachel, "sudo systemctl start rachel8.service")).code).toBe(0);
    expect(await exec(rachel, "systemctl is-active rachel8")).toEqual({
      code: 3,
      stdout: "inactive\n",
      stderr: "",
    });

    await exec(rachel, "cat > /home/rachel/.env", "TOKEN=x\n");
    expect((await exec(rachel, "sudo systemctl start rachel8")).code).toBe(0);
    expect(await exec(rachel, "systemctl is-active --quiet rachel8")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
    const journal = await exec(rachel, "journalctl -u rachel8 -n 2 --no-pager -o cat");
    expect(journal.stdout).toBe(
      "rachel8.service - Rachel8 bot was skipped because of an unmet condition check (ConditionPathExists=/home/rachel/.env).\n" +
        "Started rachel8.service - Rachel8 bot.\n",
    );

    expect((await exec(rachel, "sudo systemctl restart rachel8 && sudo systemctl stop rachel8")).code).toBe(
      0,
    );
    expect((await exec(rachel, "systemctl is-active rachel8")).stdout).toBe("inactive\n");
  });

  test("unknown units fail with systemd's messages and exit codes", async () => {
    expect(await exec(rachel, "sudo systemctl start nope")).toEqual({
      code: 5,
      stdout: "",
      stderr: "Failed to start nope.service: Unit nope.service not found.\n",
    });
    expect((await exec(rachel, "systemctl status nope")).code).toBe(4);
    expect(await exec(rachel, "sudo systemctl restart nope")).toEqual({
      code: 5,
      stdout: "",
      stderr: "Failed to restart nope.service: Unit nope.service not found.\n",
    });
    expect(await exec(rachel, "journalctl -u nope")).toEqual({
      code: 0,
      stdout: "-- No entries --\n",
      stderr: "",
    });
  });
});

describe("sudo", () => {
  test("runs commands as root for a NOPASSWD user, with root's identity in the environment", async () => {
    expect((await exec(rachel, "sudo id -u")).stdout).toBe("0\n");
    expect(
      (await exec(rachel, "cd /tmp && sudo -n -- sh -c 'echo $HOME $USER $SUDO_USER; pwd'")).stdout,
    ).toBe("/root root rachel\n/tmp\n");
  });

  test("refuses by name the options the provisioner never uses", async () => {
    expect(await exec(rachel, "sudo -u rachel true")).toEqual({
      code: 1,
      stdout: "",
      stderr: "sudo: option -u is not supported by the stand-in machine\n",
    });
  });

  test("refuses a user without a sudo rule", async () => {
    const bob = await connect(view, { username: "bob" });
    try {
      expect(await exec(bob, "sudo true")).toEqual({
        code: 1,
        stdout: "",
        stderr: "sudo: a password is required\n",
      });
    } finally {
      bob.end();
    }
  });

  test("cloud-init status reports the finished run", async () => {
    expect(await exec(rachel, "cloud-init status --wait")).toEqual({
      code: 0,
      stdout: "status: done\n",
      stderr: "",
    });
  });
});
