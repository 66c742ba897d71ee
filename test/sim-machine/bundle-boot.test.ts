/**
 * A stand-in machine boots from the app bundle: the provisioner's user-data with a bundle runs in the box,
 * whose only way out is the control plane; its curl fetches the bundle from the real public listener, from
 * the machine's own address, and a refused token fails the boot with the reason in the boot log.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiServer } from "../../api/server.ts";
import type { BundleManifest } from "../../bundle/manifest.ts";
import { createLogger } from "../../core/log.ts";
import type { Sealer } from "../../core/secrets.ts";
import type { Db } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import { bundleDownloadUrl, issueBundleGrant } from "../../domain/bundles/grants.ts";
import { type BundleWorld, createBundleWorld } from "../../harness/bundle/world.ts";
import { issueCallbackToken } from "../../jobs/provision/callback-token.ts";
import { buildUserData, SETUP_COMPLETE_MARKER } from "../../jobs/provision/cloud-init.ts";
import type { MachineView } from "../../sim/machine-contract.ts";
import { startBundleApi } from "../bundle/api.ts";
import { bootAndSettle, connect, exec, startTestHost, type TestHost, userKey } from "./support.ts";

setDefaultTimeout(60_000);

let world: BundleWorld;
let manifest: BundleManifest;
let db: Db;
let sealer: Sealer;
let api: ApiServer;
let env: TestHost;
const logLines: string[] = [];

beforeAll(async () => {
  world = await createBundleWorld();
  manifest = (await world.build()).manifest;
  ({ db, sealer, api } = startBundleApi(
    world,
    createLogger({ level: "info", destination: { write: (line: string) => logLines.push(line) } }),
  ));
  env = await startTestHost();
});
afterAll(async () => {
  await env?.cleanup();
  await api?.stop(1000);
  db?.$client.close();
  await world?.close();
});

/** Creates and boots a machine at `ipv4` whose user-data boots `manifest`, with `token` or its grant's. */
async function bootMachine(serverId: number, ipv4: string, token?: string): Promise<MachineView> {
  const instanceId = `ibundle${serverId}`;
  const now = Date.now();
  db.insert(instances).values({ id: instanceId, ipv4, createdAt: now, updatedAt: now }).run();
  const granted = issueBundleGrant(db, sealer, {
    grantId: `provision:${instanceId}:1`,
    instanceId,
    purpose: "boot",
    bundleId: manifest.id,
    expiresAt: now + 600_000,
    now,
  });
  const callbackToken = issueCallbackToken(db, sealer, instanceId);
  const userData = buildUserData({
    instanceId,
    username: "rachel",
    authorizedKey: userKey.public,
    callbackUrl: `${api.publicUrl}/v1/cloud-init/${instanceId}/ready?token=${callbackToken}`,
    bundle: {
      url: bundleDownloadUrl(api.publicUrl, instanceId, manifest.id),
      sha256: manifest.id,
      token: token ?? granted,
    },
  });
  const machine = await env.host.create({ serverId, name: instanceId, ipv4, userData });
  return bootAndSettle(machine);
}

describe("a stand-in machine booting from the bundle", () => {
  test("fetches it from the control plane from its own address, unpacks it and links current", async () => {
    const view = await bootMachine(81, "127.77.8.81");
    expect(view.cloudInit).toMatchObject({ state: "done", error: null });
    const marker = readFileSync(join(view.sandboxDir, SETUP_COMPLETE_MARKER), "utf8");
    expect(marker).toEndWith(` ${manifest.id}\n`);
    const log = readFileSync(join(view.sandboxDir, "var/log/cloud-init-output.log"), "utf8");
    expect(log).toContain(`boot-from-bundle: release ${manifest.id} at /opt/rachel8/current\n`);
    const downloads = logLines.filter((line) =>
      line.includes('"route":"/v1/instances/:instanceId/bundles/:bundleId"'),
    );
    expect(downloads).toHaveLength(1);
    expect(downloads[0]).toContain('"status":200');
    expect(
      logLines.some((line) => line.includes('"msg":"bundle download"') && line.includes("ibundle81")),
    ).toBe(true);
    const rachel = await connect(view);
    try {
      const result = await exec(
        rachel,
        "readlink /opt/rachel8/current && readlink /usr/local/bin/claude && claude --version && ls ~/rachel8 ~/shared && test -d ~/.claude && echo home-ready",
      );
      expect(result.stdout).toBe(
        `/opt/rachel8/releases/${manifest.id}\n/opt/rachel8/current/bin/claude\n2.1.337 (Claude Code)\n/home/rachel/rachel8:\n\n/home/rachel/shared:\nhome-ready\n`,
      );
    } finally {
      rachel.end();
    }
  });

  test("a refused token fails the boot, and the boot log says why", async () => {
    const view = await bootMachine(82, "127.77.8.82", "y".repeat(43));
    expect(view.cloudInit.state).toBe("error");
    expect(view.cloudInit.error).toContain("scripts_user");
    const log = readFileSync(join(view.sandboxDir, "var/log/cloud-init-output.log"), "utf8");
    expect(log).toContain("The requested URL returned error: 404");
    expect(log).toContain("boot-from-bundle: downloading the bundle failed (curl exit 22");
    expect(() => readFileSync(join(view.sandboxDir, SETUP_COMPLETE_MARKER))).toThrow();
  });
});
