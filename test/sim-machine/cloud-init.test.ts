import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
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

let env: TestHost;
beforeAll(async () => {
  env = await startTestHost();
});
afterAll(() => env.cleanup());

let nextId = 40;
async function bootWith(userData: string | null) {
  const serverId = nextId++;
  const machine = await env.host.create({
    serverId,
    name: `ci-${serverId}`,
    ipv4: `127.77.4.${serverId}`,
    userData,
  });
  return bootAndSettle(machine);
}

describe("cloud-init emulation", () => {
  test("user_data without a #cloud-config header ends in state error with the reason", async () => {
    const view = await bootWith("#!/bin/bash\necho hi\n");
    expect(view.cloudInit.state).toBe("error");
    expect(view.cloudInit.error).toContain("#cloud-config");
  });

  test("unparsable YAML and a wrong shape are errors that say what is wrong", async () => {
    expect((await bootWith("#cloud-config\nusers: [\n")).cloudInit.error).toContain("not valid YAML");
    expect((await bootWith("#cloud-config\nwrite_files:\n  - content: x\n")).cloudInit.error).toContain(
      "write_files.0.path",
    );
  });

  test("no user_data boots to done with no users to log in as", async () => {
    const view = await bootWith(null);
    expect(view.cloudInit.state).toBe("done");
    await expect(connect(view)).rejects.toThrow("authentication methods failed");
  });

  test("creates users with groups, home, authorized_keys and sudo rules", async () => {
    const view = await bootWith(cloudConfig());
    const box = (path: string) => join(view.sandboxDir, path);
    expect(readFileSync(box("etc/passwd"), "utf8")).toContain("rachel:x:1000:1000::/home/rachel:/bin/bash\n");
    expect(readFileSync(box("etc/group"), "utf8")).toContain("sudo:x:27:rachel\n");
    expect(readFileSync(box("etc/sudoers.d/90-cloud-init-users"), "utf8")).toContain(
      "rachel ALL=(ALL) NOPASSWD:ALL\n",
    );
    expect(statSync(box("home/rachel/.ssh")).mode & 0o777).toBe(0o700);
    expect(statSync(box("home/rachel/.ssh/authorized_keys")).mode & 0o777).toBe(0o600);
    await expect(connect(view, { username: "root" })).rejects.toThrow("authentication methods failed");
  });

  test("refuses by name the image's default user, encoded files and root's top-level keys", async () => {
    for (const userData of ["#cloud-config\n{}\n", "#cloud-config\nusers: [default]\n"]) {
      expect((await bootWith(userData)).cloudInit.error).toContain(
        "creates only users listed by name, not the image's default user",
      );
    }
    const encoded = await bootWith(
      cloudConfig("write_files:\n  - { path: /opt/b64.txt, encoding: b64, content: eA== }\n"),
    );
    expect(encoded.cloudInit.error).toContain('write_files.0.encoding: Invalid input: expected "text/plain"');
    const rootKeys = await bootWith(cloudConfig(`ssh_authorized_keys:\n  - ${userKey.public}\n`));
    expect(rootKeys.cloudInit.error).toContain("does not carry out ssh_authorized_keys");
  });

  test("applies write_files (permissions, defer) and writes runcmd", async () => {
    const view = await bootWith(
      cloudConfig(
        [
          "write_files:",
          "  - path: /etc/rachel/config.env",
          "    permissions: '0600'",
          "    content: |",
          "      A=1",
          "  - { path: /home/rachel/later.txt, defer: true, content: after users }",
          "runcmd:",
          "  - [touch, '/ran here']",
        ].join("\n"),
      ),
    );
    const box = (path: string) => join(view.sandboxDir, path);
    expect(readFileSync(box("etc/rachel/config.env"), "utf8")).toBe("A=1\n");
    expect(statSync(box("etc/rachel/config.env")).mode & 0o777).toBe(0o600);
    expect(readFileSync(box("home/rachel/later.txt"), "utf8")).toBe("after users");
    expect(readFileSync(box("var/lib/cloud/instance/scripts/runcmd"), "utf8")).toBe(
      "#!/bin/sh\ntouch '/ran here'\n",
    );
    expect(existsSync(box("ran here"))).toBe(true);
    expect(existsSync(box("var/lib/cloud/instance/boot-finished"))).toBe(true);
    expect(view.cloudInit).toMatchObject({ state: "done", error: null });
  });

  test("runcmd runs in order, past a failing entry, into the output log; a failing script is an error", async () => {
    const view = await bootWith(
      cloudConfig(
        [
          "runcmd:",
          "  - [sh, -c, 'echo first; exit 4']",
          "  - echo second > /second",
          "  - [sh, -c, 'echo last >&2; exit 3']",
        ].join("\n"),
      ),
    );
    const box = (path: string) => join(view.sandboxDir, path);
    expect(readFileSync(box("second"), "utf8")).toBe("second\n");
    expect(readFileSync(box("var/log/cloud-init-output.log"), "utf8")).toBe("first\nlast\n");
    expect(view.cloudInit.state).toBe("error");
    expect(view.cloudInit.error).toContain("(scripts_user) Runparts: 1 failures (runcmd, exit 3)");
    expect(existsSync(box("var/lib/cloud/instance/boot-finished"))).toBe(true);
    const client = await connect(view);
    try {
      const status = await exec(client, "cloud-init status --long");
      expect(status.code).toBe(1);
      expect(status.stdout).toContain("status: error\nerrors:\n\t- (scripts_user) Runparts");
    } finally {
      client.end();
    }
  });

  test("refuses what it does not carry out (packages, bootcmd), naming it, rather than skip it", async () => {
    const view = await bootWith(cloudConfig("packages: [git]\nbootcmd: [true]\n"));
    expect(view.cloudInit.state).toBe("error");
    expect(view.cloudInit.error).toContain("does not carry out packages, bootcmd");
  });

  test("a second boot does not run cloud-init again", async () => {
    const machine = await env.host.create({
      serverId: 60,
      name: "ci-60",
      ipv4: "127.77.4.60",
      userData: cloudConfig(),
    });
    const first = await bootAndSettle(machine);
    machine.boot();
    expect(machine.view().cloudInit).toEqual(first.cloudInit);
  });
});
