import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { bootAndSettle, cloudConfig, startTestHost, type TestHost } from "./support.ts";

interface Arrival {
  path: string;
  from: string | undefined;
  contentType: string | null;
  form: URLSearchParams;
}

let env: TestHost;
let receiver: Server<undefined>;
const arrivals: Arrival[] = [];
/** Statuses to answer with before the default 200, consumed in order. */
const scriptedStatuses: number[] = [];

beforeAll(async () => {
  env = await startTestHost();
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request, server) {
      arrivals.push({
        path: new URL(request.url).pathname,
        from: server.requestIP(request)?.address,
        contentType: request.headers.get("content-type"),
        form: new URLSearchParams(await request.text()),
      });
      return new Response(null, { status: scriptedStatuses.shift() ?? 200 });
    },
  });
});
afterAll(async () => {
  await receiver.stop(true);
  await env.cleanup();
});

function phoneHomeConfig(post = "[pub_key_ed25519, instance_id, hostname]", tries = 10): string {
  return cloudConfig(
    `phone_home:\n  url: http://127.0.0.1:${receiver.port}/phone-home/$INSTANCE_ID\n  post: ${post}\n  tries: ${tries}\n`,
  );
}

function arrivalsFor(serverId: number): Arrival[] {
  return arrivals.filter((arrival) => arrival.path === `/phone-home/${serverId}`);
}

describe("phone_home", () => {
  test("posts the real host key, form-encoded, from the machine's own address", async () => {
    const machine = await env.host.create({
      serverId: 11,
      name: "ph-11",
      ipv4: "127.77.1.11",
      userData: phoneHomeConfig(),
    });
    const view = await bootAndSettle(machine);
    const [arrival] = arrivalsFor(11);
    expect(arrival?.from).toBe("127.77.1.11");
    expect(arrival?.contentType).toBe("application/x-www-form-urlencoded");
    expect(arrival?.form.get("pub_key_ed25519")?.trim()).toBe(view.hostKeyEd25519);
    expect(arrival?.form.get("instance_id")).toBe("11");
    expect(arrival?.form.get("hostname")).toBe("ph-11");
    expect(view.cloudInit.phoneHome).toMatchObject({
      url: `http://127.0.0.1:${receiver.port}/phone-home/11`,
      attempts: 1,
      lastStatus: 200,
    });
    expect(view.cloudInit.phoneHome.deliveredAt).not.toBeNull();
  });
});
