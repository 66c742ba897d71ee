import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { BundleError } from "../../bundle/errors.ts";
import {
  BUN_VERSION,
  type BundleWorld,
  CLAUDE_CODE_VERSION,
  createBundleWorld,
} from "../../harness/bundle/world.ts";
import { runCommand } from "../support/run-command.ts";

let world: BundleWorld;
beforeAll(async () => {
  world = await createBundleWorld();
});
afterAll(() => world.close());

/** `tar -tvz` lines: mode, owner, size, date, name. */
async function listing(archive: string): Promise<string[]> {
  const listed = await runCommand([
    "tar",
    "--list",
    "--verbose",
    "--numeric-owner",
    "--gzip",
    "--file",
    archive,
  ]);
  expect(listed.exitCode).toBe(0);
  return listed.stdout.trim().split("\n");
}

async function sha256Of(path: string): Promise<string> {
  return createHash("sha256")
    .update(new Uint8Array(await Bun.file(path).arrayBuffer()))
    .digest("hex");
}

describe("bun run bundle's build", () => {
  test("packs the app at its commit with production dependencies, Bun and Claude Code, named by its sha256", async () => {
    const { manifest, reused } = await world.build();
    expect(reused).toBe(false);
    const archive = world.store.archivePath(manifest.id);
    expect(manifest).toMatchObject({
      format: 1,
      architecture: "x64",
      appRepoUrl: world.repo.url,
      appRef: "main",
      appCommit: await world.repo.head(),
      bunVersion: BUN_VERSION,
      claudeCodeVersion: CLAUDE_CODE_VERSION,
      sizeBytes: Bun.file(archive).size,
    });
    expect(manifest.id).toBe(await sha256Of(archive));

    const lines = await listing(archive);
    const names = lines.map((line) => line.split(/\s+/).at(-1));
    expect(names).toContain("./bundle.json");
    expect(names).toContain("./app/src/index.ts");
    expect(names).toContain("./app/bun.lock");
    expect(names).toContain("./app/node_modules/greeting/index.js");
    expect(names.some((name) => name?.includes("devtool") && name.includes("node_modules"))).toBe(false);
    expect(names.some((name) => name?.includes(".git/"))).toBe(false);
    expect(names.some((name) => name?.includes("README.md"))).toBe(false);
    // Owners, times and modes are normalised; executables keep their x bit.
    for (const line of lines) expect(line).toMatch(/^[-dl]r[-w][-x]r-[-x]r-[-x] 0\/0 +\d+ 1970-01-01 00:00 /);
    expect(lines.find((line) => line.endsWith(" ./bin/bun"))).toStartWith("-rwxr-xr-x");
    expect(lines.find((line) => line.endsWith(" ./bin/claude"))).toStartWith("-rwxr-xr-x");
    expect(lines.find((line) => line.endsWith(" ./app/src/index.ts"))).toStartWith("-rw-r--r--");

    const contents = await runCommand(["tar", "-xzOf", archive, "./bundle.json"]);
    expect(JSON.parse(contents.stdout)).toEqual({
      format: 1,
      architecture: "x64",
      appRepoUrl: world.repo.url,
      appRef: "main",
      appCommit: manifest.appCommit,
      bunVersion: BUN_VERSION,
      claudeCodeVersion: CLAUDE_CODE_VERSION,
    });
  });

  test("the same inputs give the same id; another commit gives another", async () => {
    const first = await world.build();
    // Make sure a rebuild does not copy the first: remove it and build again from scratch.
    await world.store.prune("x64", 0, new Set());
    expect(await world.store.get(first.manifest.id)).toBeNull();
    const again = await world.build();
    expect(again.manifest.id).toBe(first.manifest.id);
    expect(again.reused).toBe(false);
    const third = await world.build();
    expect(third).toMatchObject({ reused: true, manifest: { id: first.manifest.id } });

    const commit = await world.repo.commitChange("// a new release");
    const changed = await world.build();
    expect(changed.manifest.appCommit).toBe(commit);
    expect(changed.manifest.id).not.toBe(first.manifest.id);
    // A commit id pins the same tree as the branch that pointed at it.
    const pinned = await world.build("x64", { appRef: commit });
    expect(pinned.manifest).toMatchObject({ appRef: commit, appCommit: commit });
  });

  test("an arm64 build takes the arm packages and leaves no staging behind", async () => {
    const seen = world.registry.requests.length;
    const { manifest } = await world.build("arm64");
    expect(manifest.architecture).toBe("arm64");
    const asked = world.registry.requests.slice(seen);
    expect(asked).toContain(`/@oven%2fbun-linux-aarch64/${BUN_VERSION}`);
    expect(asked).toContain(`/@anthropic-ai%2fclaude-code-linux-arm64/${CLAUDE_CODE_VERSION}`);
    expect(await readdir(join(world.store.dir, ".staging"))).toEqual([]);
  });

  test("a second build with the same versions downloads no tarball again", async () => {
    const seen = world.registry.requests.length;
    await world.build();
    expect(world.registry.requests.slice(seen).filter((path) => path.startsWith("/tarballs/"))).toEqual([]);
  });
});

test("unpacked, the bundle runs: its executables start and the app resolves its dependency", async () => {
  const { manifest } = await world.build();
  const release = join(world.dir, `release-${manifest.id.slice(0, 8)}`);
  await Bun.write(join(release, ".keep"), "");
  expect(
    (await runCommand(["tar", "-xzf", world.store.archivePath(manifest.id), "-C", release])).exitCode,
  ).toBe(0);
  expect((await runCommand([join(release, "bin/claude"), "--version"])).stdout).toBe(
    `${CLAUDE_CODE_VERSION} (Claude Code)\n`,
  );
  expect((await runCommand([join(release, "bin/bun"), "--version"])).exitCode).toBe(0);
  const resolved = await runCommand([process.execPath, "-e", 'console.log(require("greeting"))'], {
    cwd: join(release, "app"),
  });
  expect(resolved.stdout).toBe("greeting\n");
});

describe("a failed build leaves no bundle", () => {
  test("a tarball that does not match the registry's integrity", async () => {
    const tampered = await createBundleWorld();
    try {
      tampered.registry.tamper("@anthropic-ai/claude-code-linux-x64");
      const failure = await tampered.build().catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(BundleError);
      expect(failure).toMatchObject({ code: "integrity_mismatch" });
      expect((failure as Error).message).toStartWith(
        `@anthropic-ai/claude-code-linux-x64@${CLAUDE_CODE_VERSION}:`,
      );
      expect(await tampered.store.list()).toEqual([]);
      expect(await readdir(join(tampered.store.dir, ".staging"))).toEqual([]);
    } finally {
      await tampered.close();
    }
  });

  test("a version the registry does not have, a ref the repository does not have, an app without a lockfile", async () => {
    await expect(world.build("x64", { bunVersion: "9.9.9" })).rejects.toMatchObject({
      code: "registry_failed",
      message: expect.stringContaining("@oven/bun-linux-x64@9.9.9"),
    });
    await expect(world.build("x64", { appRef: "no-such-branch" })).rejects.toMatchObject({
      code: "app_checkout_failed",
    });
    const unlocked = await createBundleWorld({ withLockfile: false });
    try {
      await expect(unlocked.build()).rejects.toMatchObject({ code: "app_lockfile_missing" });
      expect(await unlocked.store.list()).toEqual([]);
    } finally {
      await unlocked.close();
    }
  });
});
