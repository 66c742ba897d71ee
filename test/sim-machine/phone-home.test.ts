import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Server } from "bun";
import { waitFor } from "../sim/helpers.ts";
import { bootAndSettle, cloudConfig, startTestHost, type TestHost } from "./support.ts";

// Sandboxed commands take tens of ms each; leave room for a loaded 2-core machine.
setDefaultTimeout(20_000);

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

  test("retries after a 503 with the spacing cloud-init uses, then succeeds", async () => {
    scriptedStatuses.push(503, 503);
    const machine = await env.host.create({
      serverId: 12,
      name: "ph-12",
      ipv4: "127.77.1.12",
      userData: phoneHomeConfig(),
    });
    const view = await bootAndSettle(machine);
    expect(arrivalsFor(12)).toHaveLength(3);
    expect(view.cloudInit.phoneHome).toMatchObject({ attempts: 3, lastStatus: 200 });
    expect(view.cloudInit.phoneHome.deliveredAt).not.toBeNull();
  });

  test("gives up after `tries` failures and still finishes cloud-init", async () => {
    scriptedStatuses.push(500, 500, 500);
    const userData = phoneHomeConfig("[instance_id]", 3);
    const view = await bootAndSettle(
      await env.host.create({ serverId: 14, name: "ph-14", ipv4: "127.77.1.14", userData }),
    );
    expect(arrivalsFor(14)).toHaveLength(3);
    expect(view.cloudInit).toMatchObject({
      state: "done",
      phoneHome: { attempts: 3, lastStatus: 500, deliveredAt: null },
    });
  });

  test("sends the listed fields, N/A for key types the machine lacks, as cloud-init does", async () => {
    const userData = phoneHomeConfig("[pub_key_rsa, pub_key_ed25519, fqdn]");
    const view = await bootAndSettle(
      await env.host.create({ serverId: 15, name: "ph-15", ipv4: "127.77.1.15", userData }),
    );
    expect(Object.fromEntries(arrivalsFor(15)[0]?.form ?? [])).toEqual({
      pub_key_rsa: "N/A",
      pub_key_ed25519: `${view.hostKeyEd25519}\n`,
      fqdn: "ph-15",
    });
  });

  test("refuses post: all, stated or left out, by name", async () => {
    const url = `http://127.0.0.1:${receiver.port}/phone-home/$INSTANCE_ID`;
    for (const [serverId, post] of [
      [27, "  post: all\n"],
      [28, ""],
    ] as const) {
      const userData = cloudConfig(`phone_home:\n  url: ${url}\n${post}`);
      const view = await bootAndSettle(
        await env.host.create({ serverId, name: `ph-${serverId}`, ipv4: `127.77.1.${serverId}`, userData }),
      );
      expect(view.cloudInit.error).toContain(
        "phone_home.post: the stand-in machine posts only listed fields",
      );
      expect(arrivalsFor(serverId)).toEqual([]);
    }
  });
});

describe("phone_home faults", () => {
  test("phone_home_never: cloud-init hangs before phone_home on that server only", async () => {
    env.host.faults.add({ kind: "phone_home_never", serverId: 16 });
    try {
      const silent = await env.host.create({
        serverId: 16,
        name: "ph-16",
        ipv4: "127.77.1.16",
        userData: phoneHomeConfig(),
      });
      silent.boot();
      await waitFor(
        "cloud-init to reach phone_home",
        () => silent.view().cloudInit.phoneHome.url ?? undefined,
      );
      const control = await env.host.create({
        serverId: 17,
        name: "ph-17",
        ipv4: "127.77.1.17",
        userData: phoneHomeConfig(),
      });
      await bootAndSettle(control);
      expect(arrivalsFor(17)).toHaveLength(1);
      expect(arrivalsFor(16)).toHaveLength(0);
      expect(silent.view().cloudInit).toMatchObject({
        state: "running",
        phoneHome: { attempts: 0, deliveredAt: null },
      });
      await silent.destroy();
    } finally {
      env.host.faults.clear();
    }
  });

  test("phone_home_late: the first attempt waits the given real delay", async () => {
    env.host.faults.add({ kind: "phone_home_late", delayMs: 400 });
    try {
      const late = await env.host.create({
        serverId: 18,
        name: "ph-18",
        ipv4: "127.77.1.18",
        userData: phoneHomeConfig(),
      });
      const bootedAt = Date.now();
      const view = await bootAndSettle(late);
      expect(arrivalsFor(18)).toHaveLength(1);
      expect(Date.parse(view.cloudInit.phoneHome.deliveredAt ?? "")).toBeGreaterThanOrEqual(bootedAt + 400);
    } finally {
      env.host.faults.clear();
    }
  });
});
