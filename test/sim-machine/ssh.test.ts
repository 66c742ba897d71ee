import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bootAndSettle, cloudConfig, sshRun, startTestHost, type TestHost } from "./support.ts";

let env: TestHost;
beforeAll(async () => {
  env = await startTestHost();
});
afterAll(() => env.cleanup());

describe("a booted machine's SSH endpoint", () => {
  test("accepts the user_data key, presents its own host key and runs commands in the sandbox", async () => {
    const machine = await env.host.create({
      serverId: 1,
      name: "box-1",
      ipv4: "127.77.0.1",
      userData: cloudConfig(),
    });
    const view = await bootAndSettle(machine);
    expect(view.cloudInit.state).toBe("done");
    expect(view.hostKeyEd25519).toMatch(/^ssh-ed25519 AAAA\S+ root@box-1$/);

    const write = await sshRun(view, "cat > /home/rachel/.env && chmod 600 /home/rachel/.env", "TOKEN=abc\n");
    expect(write.code).toBe(0);
    const read = await sshRun(view, "cat /home/rachel/.env; hostname; pwd");
    expect(read).toEqual({ code: 0, stdout: "TOKEN=abc\nbox-1\n/home/rachel\n", stderr: "" });
    expect(readFileSync(join(view.sandboxDir, "home/rachel/.env"), "utf8")).toBe("TOKEN=abc\n");
    expect(existsSync(join(view.sandboxDir, "etc/sudoers.d/90-cloud-init-users"))).toBe(true);
  });
});
