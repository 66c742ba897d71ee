/**
 * The provisioner's real user-data (buildUserData: prepare-host.sh, install-app.sh) runs to completion in
 * the fake machine through its offline stand-ins for apt-get, curl, git and bun, before phone_home.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "ssh2";
import { SETUP_COMPLETE_MARKER } from "../../jobs/provision/cloud-init.ts";
import type { MachineView } from "../../sim/machine/types.ts";
import {
  bootAndSettle,
  connect,
  exec,
  provisionerUserData,
  startTestHost,
  type TestHost,
} from "./support.ts";

// Sandboxed commands take tens of ms each and first boot runs a few dozen; leave room for a loaded box.
setDefaultTimeout(30_000);

const INSTANCE_ID = "ifirstboot0001";
/** dpkg-query's format field, as prepare-host.sh passes it. */
const STATUS_FORMAT = `-f='$\{Status}'`;

let env: TestHost;
let callback: ReturnType<typeof Bun.serve>;
let view: MachineView;
let rachel: Client;
const phoneHomes: { path: string; form: URLSearchParams }[] = [];

beforeAll(async () => {
  env = await startTestHost();
  callback = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      phoneHomes.push({
        path: new URL(request.url).pathname,
        form: new URLSearchParams(await request.text()),
      });
      return new Response("ok");
    },
  });
  const userData = provisionerUserData(INSTANCE_ID, {
    callbackBase: `http://127.0.0.1:${callback.port}`,
    bunVersion: "1.2.3",
  });
  const machine = await env.host.create({ serverId: 71, name: "first-boot", ipv4: "127.77.7.71", userData });
  view = await bootAndSettle(machine);
  rachel = await connect(view);
}, 60_000);
afterAll(async () => {
  rachel?.end();
  callback?.stop(true);
  await env.cleanup();
});

describe("first boot with the provisioner's user-data", () => {
  test("prepare-host.sh completes, writes the setup-complete marker, then phone_home reports", () => {
    expect(view.cloudInit).toMatchObject({ state: "done", error: null });
    const box = (path: string) => join(view.sandboxDir, path);
    expect(readFileSync(box(SETUP_COMPLETE_MARKER), "utf8")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    const log = readFileSync(box("var/log/cloud-init-output.log"), "utf8");
    expect(log).toContain("install-app: 1.2.3 at /home/rachel/rachel8, commit ");
    expect(log).toContain("prepare-host: done\n");
    // cloud-init's package step installed them, so prepare-host had nothing left to install.
    expect(log).not.toContain("prepare-host: installing");
    expect(phoneHomes).toHaveLength(1);
    expect(phoneHomes[0]?.path).toBe(`/v1/cloud-init/${INSTANCE_ID}/ready`);
    expect(phoneHomes[0]?.form.get("pub_key_ed25519")?.trim()).toBe(view.hostKeyEd25519);
  });

  test("the app user has Bun, the checkout with its dependencies, and the shared folder", async () => {
    const result = await exec(
      rachel,
      "cd ~/rachel8 && ~/.bun/bin/bun --version && ls -a && ls src && git rev-parse HEAD && test -d ~/shared && echo shared",
    );
    expect(result.code).toBe(0);
    const [version, ...rest] = result.stdout.trim().split("\n");
    expect(version).toBe("1.2.3");
    expect(rest).toEqual(
      expect.arrayContaining([".git", "node_modules", "package.json", "index.ts", "shared"]),
    );
    expect(rest).toContainEqual(expect.stringMatching(/^[0-9a-f]{40}$/));
  });

  test("the box stays offline: other URLs fail as they would without DNS", async () => {
    expect(await exec(rachel, "curl -fsSL https://example.com/x.sh")).toEqual({
      code: 6,
      stdout: "",
      stderr: "curl: (6) Could not resolve host: example.com\n",
    });
    const clone = await exec(rachel, "git clone -q https://gitlab.com/someone/other.git /tmp/other");
    expect(clone).toEqual({
      code: 128,
      stdout: "",
      stderr:
        "fatal: unable to access 'https://gitlab.com/someone/other.git': Could not resolve host: gitlab.com\n",
    });
    expect(
      (await exec(rachel, "git clone -q https://github.com/polly3223/Rachel8.git /tmp/r8 && ls /tmp/r8"))
        .stdout,
    ).toBe("package.json\nsrc\n");
  });

  test("chown accepts the box's users and groups, and refuses unknown ones as chown does", async () => {
    expect(await exec(rachel, "sudo chown -R rachel:rachel ~/rachel8 && echo ok")).toEqual({
      code: 0,
      stdout: "ok\n",
      stderr: "",
    });
    expect(await exec(rachel, "sudo chown ghost ~/rachel8")).toEqual({
      code: 1,
      stdout: "",
      stderr: "chown: invalid user: 'ghost'\n",
    });
    expect((await exec(rachel, "sudo chown rachel /nope")).stderr).toBe(
      "chown: cannot access '/nope': No such file or directory\n",
    );
  });

  test("dpkg-query knows what apt-get installed, and nothing else", async () => {
    expect(await exec(rachel, `dpkg-query -W ${STATUS_FORMAT} git`)).toEqual({
      code: 0,
      stdout: "install ok installed",
      stderr: "",
    });
    expect(await exec(rachel, `dpkg-query -W ${STATUS_FORMAT} nginx`)).toEqual({
      code: 1,
      stdout: "",
      stderr: "dpkg-query: no packages found matching nginx\n",
    });
  });
});
