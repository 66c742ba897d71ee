import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BundleArchitecture } from "../../bundle/architecture.ts";
import { architecturesFor } from "../../bundle/architecture.ts";
import { BundleError } from "../../bundle/errors.ts";
import { type BundleStore, createBundleStore } from "../../bundle/store.ts";

let dir: string;
let store: BundleStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "bundle-store-"));
  store = createBundleStore(join(dir, "bundles"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Stores a bundle whose archive is `text`, built at `builtAt`; returns its id. */
async function put(text: string, builtAt: number, architecture: BundleArchitecture = "x64"): Promise<string> {
  const id = createHash("sha256").update(text).digest("hex");
  const staged = await store.stagingDir();
  await Bun.write(join(staged, "bundle.tar.gz"), text);
  await store.commit(staged, {
    format: 1,
    architecture,
    appRepoUrl: "file:///app",
    appRef: "main",
    appCommit: "e".repeat(40),
    bunVersion: "1.4.5",
    claudeCodeVersion: "2.1.337",
    id,
    sizeBytes: text.length,
    builtAt,
    buildMs: 1,
  });
  return id;
}

test("retention keeps the newest N per architecture, the current one and those in use", async () => {
  const ids = await Promise.all(["a", "b", "c", "d", "e"].map((text, index) => put(text, 1000 + index)));
  const [oldest, old, inUse, newer, newest] = ids as [string, string, string, string, string];
  const arm = await put("arm", 1, "arm64");
  await store.promote(oldest);
  const deleted = await store.prune("x64", 2, new Set([inUse]));
  expect(deleted).toEqual([old]);
  expect((await store.list()).map((bundle) => bundle.id)).toEqual([newest, newer, inUse, oldest, arm]);
  expect(await readdir(join(store.dir, ".staging"))).toEqual([]);
  expect(await store.current()).toEqual({ x64: oldest });
});

test("promoting an unknown bundle is refused; the current map is per architecture", async () => {
  await expect(store.promote("f".repeat(64))).rejects.toBeInstanceOf(BundleError);
  const arm = await put("arm", 1, "arm64");
  const x64 = await put("x64", 2);
  await store.promote(arm);
  await store.promote(x64);
  expect(await store.current()).toEqual({ arm64: arm, x64 });
  expect(await store.get("../current.json")).toBeNull();
});

test("a build killed mid-way leaves staging that a later run removes once it is old", async () => {
  const abandoned = await store.stagingDir();
  await Bun.write(join(abandoned, "root/app/file"), "half a build");
  const fresh = await store.stagingDir();
  await utimes(abandoned, new Date(1000), new Date(1000));
  expect(await store.removeAbandonedStaging(Date.now() - 60_000)).toBe(1);
  expect(await readdir(join(store.dir, ".staging"))).toEqual([fresh.split("/").at(-1) ?? ""]);
});

test("architectures: arm only when an Arm (CAX) type is configured", () => {
  expect(architecturesFor(["cx23"])).toEqual(["x64"]);
  expect(architecturesFor(["cax11"])).toEqual(["arm64"]);
  expect(architecturesFor(["cax21", "cpx11", "ccx13"])).toEqual(["x64", "arm64"]);
});
