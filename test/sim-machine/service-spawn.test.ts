/**
 * How the service manager starts ExecStart=: with exactly the environment systemd would give a unit of ours
 * (nothing of the box's own), in WorkingDirectory=, its output relayed line by line to the journal under
 * the pid of the process that printed it; and how it stops one that ignores SIGTERM (SIGKILL once
 * TimeoutStopSec= has passed, timed without a sleep process).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Client } from "ssh2";
import { waitFor } from "../sim/helpers.ts";
import { bootedLogin, exec, startTestHost, type TestHost } from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

let env: TestHost;
let rachel: Client;

beforeAll(async () => {
  env = await startTestHost();
  rachel = await bootedLogin(env, { serverId: 31, name: "spawn-box", ipv4: "127.77.3.31" });
});
afterAll(async () => {
  rachel?.end();
  await env.cleanup();
});

/** Installs `name` with `service` as its [Service] section, starts it, and returns its journal once it ended. */
async function runUnit(name: string, service: string): Promise<string[]> {
  const unit = `[Unit]\nDescription=${name}\n\n[Service]\nSyslogIdentifier=${name}\n${service}\n`;
  expect((await exec(rachel, `sudo tee /etc/systemd/system/${name}.service >/dev/null`, unit)).code).toBe(0);
  expect(await exec(rachel, `sudo systemctl start ${name}`)).toEqual({ code: 0, stdout: "", stderr: "" });
  const journal = await waitFor(`${name} to end`, async () => {
    const lines = (await exec(rachel, `journalctl -u ${name} --no-pager`)).stdout;
    return lines.includes("Deactivated successfully") ? lines : undefined;
  });
  return journal.split("\n").filter((line) => line.includes(`${name}[`));
}

describe("a unit's process", () => {
  test("gets exactly PATH, HOME, USER, LOGNAME, SHELL and LANG, for its User=", async () => {
    const lines = await runUnit("showenv", "User=rachel\nExecStart=/usr/bin/env");
    const variables = lines.map((line) => line.replace(/^.* showenv\[\d+\]: /, "")).sort();
    expect(variables).toEqual([
      "HOME=/home/rachel",
      "LANG=C.UTF-8",
      "LOGNAME=rachel",
      "PATH=/opt/sim/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "SHELL=/bin/bash",
      "USER=rachel",
    ]);
  });

  test("its output reaches the journal in order, tagged with its own pid, from its WorkingDirectory=", async () => {
    const lines = await runUnit(
      "showpid",
      `WorkingDirectory=/tmp\nExecStart=/bin/sh -c 'echo "pid $$"; pwd; echo "last line"'`,
    );
    expect(lines).toHaveLength(3);
    const [first = "", second = "", third = ""] = lines;
    const pid = /showpid\[(\d+)\]: pid (\d+)$/.exec(first);
    expect(pid?.[1]).toBeDefined();
    expect(pid?.[1]).toBe(pid?.[2]);
    expect(second).toEndWith(`showpid[${pid?.[1]}]: /tmp`);
    expect(third).toEndWith(`showpid[${pid?.[1]}]: last line`);
  });

  test("one that ignores SIGTERM is killed once TimeoutStopSec= has passed, and stop returns", async () => {
    const unit = [
      "[Service]",
      "SyslogIdentifier=stubborn",
      "TimeoutStopSec=2s",
      `ExecStart=/bin/sh -c 'trap "" TERM; echo holding; read -r _ <>/run/sim-systemd/idle'`,
      "",
    ].join("\n");
    await exec(rachel, "sudo tee /etc/systemd/system/stubborn.service >/dev/null", unit);
    expect((await exec(rachel, "sudo systemctl start stubborn")).code).toBe(0);
    await waitFor("the service to run", async () => {
      const journal = await exec(rachel, "journalctl -u stubborn -o cat");
      return journal.stdout.includes("holding") ? true : undefined;
    });
    expect(await exec(rachel, "sudo systemctl stop stubborn")).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await exec(rachel, "systemctl is-active stubborn")).stdout).toBe("inactive\n");
    const journal = (await exec(rachel, "journalctl -u stubborn -n 2 -o cat")).stdout;
    expect(journal).toBe("Stopping stubborn.service...\nStopped stubborn.service.\n");
  });
});
