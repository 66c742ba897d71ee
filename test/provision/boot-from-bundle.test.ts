/**
 * The first-boot script of user-data that boots from a bundle, run for real as root against the public
 * listener serving a real bundle: inside a mount namespace of its own, with tmpfs over /opt, /home and
 * /usr/local/bin and a passwd naming the app user, so the host is left as it was.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { lstat, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ApiServer } from "../../api/server.ts";
import type { BundleManifest } from "../../bundle/manifest.ts";
import { createLogger } from "../../core/log.ts";
import type { Sealer } from "../../core/secrets.ts";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import type { Db } from "../../db/index.ts";
import { instances } from "../../db/schema.ts";
import { bundleDownloadUrl, issueBundleGrant } from "../../domain/bundles/grants.ts";
import { type BundleWorld, CLAUDE_CODE_VERSION, createBundleWorld } from "../../harness/bundle/world.ts";
import { buildCloudConfig } from "../../jobs/provision/cloud-init.ts";
import { withFetchRelease } from "../../jobs/shared/fetch-release.ts";
import { startBundleApi } from "../bundle/api.ts";
import { runCommand } from "../support/run-command.ts";

setDefaultTimeout(60_000);
/** The script as user-data ships it: with the fetch_release it shares with upgrades. */
const SCRIPT_SOURCE = join(import.meta.dir, "../../jobs/provision/cloud-init/boot-from-bundle.sh");
const isRoot = process.getuid?.() === 0;

let world: BundleWorld;
let manifest: BundleManifest;
let db: Db;
let sealer: Sealer;
let api: ApiServer;
let seq = 0;
let script: string;

beforeAll(async () => {
  world = await createBundleWorld();
  manifest = (await world.build()).manifest;
  script = join(world.dataDir, "boot-from-bundle.sh");
  await writeFile(script, withFetchRelease(await readFile(SCRIPT_SOURCE, "utf8")));
  ({ db, sealer, api } = startBundleApi(world, createLogger({ level: "silent" })));
});
afterAll(async () => {
  await api?.stop(1000);
  db?.$client.close();
  await world?.close();
});

interface Boot {
  exitCode: number;
  output: string;
  /** The namespace's view after the script: `current`, the CLI link, the marker, the token file, the home. */
  after: string;
  dir: string;
}

/**
 * A new instance (its address 127.0.0.1, the test's own) granted the bundle; runs the runcmd entry the
 * user-data would, with the token file and marker in a scratch directory. `token` replaces the grant's.
 */
async function boot(options: { token?: string; sha256?: string } = {}): Promise<Boot> {
  const instanceId = `iboot${++seq}`;
  const now = Date.now();
  db.insert(instances).values({ id: instanceId, ipv4: "127.0.0.1", createdAt: now, updatedAt: now }).run();
  const token = issueBundleGrant(db, sealer, {
    grantId: `provision:${instanceId}:1`,
    instanceId,
    purpose: "boot",
    bundleId: manifest.id,
    expiresAt: now + 600_000,
    now,
  });
  const bundle = {
    url: bundleDownloadUrl(api.publicUrl, instanceId, manifest.id),
    sha256: manifest.id,
    token: options.token ?? token,
  };
  const config = buildCloudConfig({
    instanceId,
    username: "rachel",
    authorizedKey: generateSshKeyPair("boot-test").publicKey,
    callbackUrl: `${api.publicUrl}/v1/cloud-init/${instanceId}/ready?token=t`,
    bundle,
  });
  const dir = join(world.dir, instanceId);
  const [command = []] = config.runcmd;
  const [, , user = "", url = "", , , root = ""] = command;
  const auth = join(dir, "bundle-auth");
  const marker = join(dir, "setup-complete");
  await Bun.write(auth, config.write_files[1]?.content ?? "");
  await writeFile(
    join(dir, "passwd"),
    "root:x:0:0::/root:/bin/sh\nrachel:x:4242:4343::/home/rachel:/bin/bash\n",
  );
  const args = ["sh", script, user, url, options.sha256 ?? manifest.id, auth, root, marker].map(quote);
  const inside = [
    "set -e",
    "mount -t tmpfs none /opt",
    "mount -t tmpfs none /home",
    "mount -t tmpfs none /usr/local/bin",
    `mount --bind ${quote(join(dir, "passwd"))} /etc/passwd`,
    `set +e; ${args.join(" ")} >${quote(join(dir, "out"))} 2>&1; code=$?; set -e`,
    `{ readlink /opt/rachel8/current; readlink /usr/local/bin/claude; claude --version || true;`,
    `  stat -c '%n %u:%g %a' /home/rachel/rachel8 /home/rachel/shared /home/rachel/.claude;`,
    `  ls /opt/rachel8/current/; ls -A /opt/rachel8/releases; } >${quote(join(dir, "after"))} 2>&1 || true`,
    "exit $code",
  ].join("\n");
  const run = await runCommand(["unshare", "--mount", "--propagation", "private", "sh", "-c", inside]);
  return {
    exitCode: run.exitCode,
    output: `${run.stderr}${await readFile(join(dir, "out"), "utf8")}`,
    after: await readFile(join(dir, "after"), "utf8").catch(() => ""),
    dir,
  };
}

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

describe.skipIf(!isRoot)("booting from the bundle", () => {
  test("fetches, checks and unpacks the bundle, links current and the CLI, prepares the home", async () => {
    const result = await boot();
    expect(result.output).toBe(`boot-from-bundle: release ${manifest.id} at /opt/rachel8/current\n`);
    expect(result.exitCode).toBe(0);
    expect(result.after.split("\n")).toEqual([
      `/opt/rachel8/releases/${manifest.id}`,
      "/opt/rachel8/current/bin/claude",
      `${CLAUDE_CODE_VERSION} (Claude Code)`,
      "/home/rachel/rachel8 4242:4343 755",
      "/home/rachel/shared 4242:4343 755",
      "/home/rachel/.claude 4242:4343 700",
      "app",
      "bin",
      "bundle.json",
      manifest.id,
      "",
    ]);
    const marker = await readFile(join(result.dir, "setup-complete"), "utf8");
    expect(marker).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ ${manifest.id}\\n$`));
    // The token opened one download and is gone from the disk.
    expect(await lstat(join(result.dir, "bundle-auth")).catch(() => null)).toBeNull();
  });

  test("a refused token fails the boot at once, saying so, and writes no marker", async () => {
    const result = await boot({ token: "x".repeat(43) });
    expect(result.exitCode).toBe(1);
    expect(result.output).toContain("The requested URL returned error: 404");
    expect(result.output).toContain(
      "boot-from-bundle: downloading the bundle failed (curl exit 22; 22: refused, so a wrong or spent token or a foreign address)",
    );
    expect(await lstat(join(result.dir, "setup-complete")).catch(() => null)).toBeNull();
  });

  test("bytes that are not the bundle fail the checksum, and nothing is unpacked", async () => {
    const result = await boot({ sha256: "0".repeat(64) });
    expect(result.exitCode).toBe(1);
    expect(result.output).toContain(
      `boot-from-bundle: bundle checksum mismatch: the download is not bundle ${"0".repeat(64)}`,
    );
    expect(result.after).not.toContain("bundle.json");
    expect(await lstat(join(result.dir, "setup-complete")).catch(() => null)).toBeNull();
  });
});
