/**
 * cloud-init's final stage records the end of the boot only after phone_home has run, as cloud-init does:
 * while the phone_home POST is unanswered the box still says "running" and has no boot-finished; once it
 * is answered, boot-finished (0644, one ISO timestamp line) and the final state appear.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { waitFor } from "../sim/helpers.ts";
import { bootAndSettle, cloudConfig, startTestHost, type TestHost } from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

let env: TestHost;
let receiver: Server<undefined>;
let arrived = false;
let answer: () => void = () => undefined;
const answered = new Promise<void>((resolve) => {
  answer = resolve;
});

beforeAll(async () => {
  env = await startTestHost();
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      arrived = true;
      await answered;
      return new Response(null, { status: 200 });
    },
  });
});
afterAll(async () => {
  answer();
  await receiver.stop(true);
  await env.cleanup();
});

describe("the end of the final stage", () => {
  test("comes after phone_home: running and no boot-finished until it is answered, then done", async () => {
    const userData = cloudConfig(
      `phone_home:\n  url: http://127.0.0.1:${receiver.port}/ready\n  post: [instance_id]\n  tries: 1\n`,
    );
    const machine = await env.host.create({ serverId: 41, name: "fs-41", ipv4: "127.77.4.41", userData });
    machine.boot();
    await waitFor("phone_home to arrive", () => (arrived ? true : undefined));
    const box = (path: string) => join(machine.view().sandboxDir, path);
    expect(readFileSync(box("run/sim-cloud-init/status"), "utf8")).toBe("running\n");
    expect(existsSync(box("var/lib/cloud/instance/boot-finished"))).toBe(false);
    expect(machine.view().cloudInit.state).toBe("running");

    answer();
    const view = await bootAndSettle(machine);
    expect(view.cloudInit).toMatchObject({ state: "done", error: null });
    expect(readFileSync(box("run/sim-cloud-init/status"), "utf8")).toBe("done\n");
    const finished = box("var/lib/cloud/instance/boot-finished");
    expect(readFileSync(finished, "utf8")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/);
    expect(statSync(finished).mode & 0o777).toBe(0o644);
  });
});
