/** The root filesystem cache: keyed by what decides its content, used only when complete, built atomically. */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerHostError } from "../../sim/container/errors.ts";
import { missingContainerRequirements } from "../../sim/container/requirements.ts";
import { ensureRootfs, ROOTFS_PACKAGES, rootfsKey, rootfsPath } from "../../sim/container/rootfs.ts";

const canBuild = missingContainerRequirements().length === 0;

describe("root filesystem cache", () => {
  test("the key follows the package list, not its order", () => {
    expect(rootfsKey([...ROOTFS_PACKAGES].reverse())).toBe(rootfsKey(ROOTFS_PACKAGES));
    expect(rootfsKey([...ROOTFS_PACKAGES, "git"])).not.toBe(rootfsKey(ROOTFS_PACKAGES));
    expect(rootfsPath("/cache")).toBe(`/cache/rootfs-${rootfsKey()}`);
  });

  test("a complete cached root (its marker written last) is used as it is, without a build", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "rootfs-cache-"));
    try {
      const root = rootfsPath(cacheDir);
      mkdirSync(join(root, "etc"), { recursive: true });
      writeFileSync(join(root, "etc/rachel-sim-rootfs"), "{}\n");
      const lines: string[] = [];
      expect(await ensureRootfs({ cacheDir, onProgress: (line) => lines.push(line) })).toBe(root);
      expect(lines).toEqual([]);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  test.skipIf(!canBuild)("a failed build says why and leaves nothing in the cache", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "rootfs-cache-"));
    try {
      // Nothing listens on port 1: debootstrap fails at its first download.
      const attempt = ensureRootfs({
        cacheDir,
        mirror: "http://127.0.0.1:1/debian",
        onProgress: () => undefined,
      });
      const error = await attempt.then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(ContainerHostError);
      expect((error as ContainerHostError).code).toBe("rootfs_build_failed");
      expect((error as Error).message).toContain("debootstrap exited");
      expect(readdirSync(cacheDir)).toEqual([]);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
