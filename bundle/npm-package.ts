/**
 * A native executable shipped as an npm package per platform (Bun, Claude Code): resolved in the registry,
 * downloaded, checked against the registry's sha512 integrity, and the one file we need taken out.
 * Verified tarballs are cached by their integrity, so a rebuild with the same versions downloads nothing.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { BundleArchitecture } from "./architecture.ts";
import { runTool } from "./command.ts";
import { BundleError } from "./errors.ts";

/** One executable inside one per-platform npm package. */
export interface NativePackage {
  /** e.g. "@oven/bun-linux-x64". */
  name: string;
  /** Exact version, e.g. "1.4.5". */
  version: string;
  /** Path of the executable inside the package, e.g. "bin/bun". */
  executable: string;
}

/** Bun's per-platform package: npm says aarch64 where Node says arm64. */
export function bunPackage(architecture: BundleArchitecture, version: string): NativePackage {
  const cpu = architecture === "arm64" ? "aarch64" : "x64";
  return { name: `@oven/bun-linux-${cpu}`, version, executable: "bin/bun" };
}

/** Claude Code's per-platform package (what `@anthropic-ai/claude-code`'s postinstall picks on glibc Linux). */
export function claudeCodePackage(architecture: BundleArchitecture, version: string): NativePackage {
  return { name: `@anthropic-ai/claude-code-linux-${architecture}`, version, executable: "claude" };
}

const versionDocument = z.object({
  name: z.string(),
  version: z.string(),
  dist: z.object({ tarball: z.url({ protocol: /^https?$/ }), integrity: z.string() }),
});

/** The sha512 digest (base64) a Subresource-Integrity string names; npm has published sha512 since 2017. */
function sha512Of(integrity: string, what: string): string {
  const entry = integrity.split(/\s+/).find((part) => part.startsWith("sha512-"));
  if (entry === undefined)
    throw new BundleError("registry_failed", `${what}: registry gives no sha512 integrity`);
  return entry.slice("sha512-".length);
}

export interface FetchExecutableOptions {
  registryUrl: string;
  /** Directory of verified tarballs, named by their digest. */
  cacheDir: string;
  /** Where to put the executable (mode 0755). */
  destination: string;
  signal?: AbortSignal;
}

/** Puts `pkg`'s executable at `destination`; throws BundleError on a registry failure or a digest mismatch. */
export async function fetchExecutable(pkg: NativePackage, options: FetchExecutableOptions): Promise<void> {
  const what = `${pkg.name}@${pkg.version}`;
  const tarball = await verifiedTarball(pkg, options, what);
  const unpackDir = `${options.destination}.unpack`;
  await mkdir(unpackDir, { recursive: true });
  const inside = `package/${pkg.executable}`;
  await runTool(
    { argv: ["tar", "-xzf", tarball, "-C", unpackDir, inside], signal: options.signal },
    "registry_failed",
  );
  await rename(join(unpackDir, inside), options.destination);
  await chmod(options.destination, 0o755);
  await rm(unpackDir, { recursive: true, force: true });
}

async function verifiedTarball(
  pkg: NativePackage,
  options: FetchExecutableOptions,
  what: string,
): Promise<string> {
  const documentUrl = `${options.registryUrl}/${pkg.name.replace("/", "%2f")}/${pkg.version}`;
  const document = versionDocument.safeParse(await getJson(documentUrl, what, options.signal));
  if (!document.success || document.data.name !== pkg.name || document.data.version !== pkg.version) {
    throw new BundleError("registry_failed", `${what}: the registry's version document does not describe it`);
  }
  const expected = sha512Of(document.data.dist.integrity, what);
  const cached = join(options.cacheDir, `${Buffer.from(expected, "base64").toString("hex")}.tgz`);
  if ((await Bun.file(cached).exists()) && (await sha512File(cached)) === expected) return cached;

  const response = await get(document.data.dist.tarball, what, options.signal);
  await mkdir(options.cacheDir, { recursive: true });
  const partial = `${cached}.${process.pid}.partial`;
  const hash = createHash("sha512");
  const writer = Bun.file(partial).writer();
  for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
    hash.update(chunk);
    writer.write(chunk);
  }
  await writer.end();
  const actual = hash.digest("base64");
  if (actual !== expected) {
    await rm(partial, { force: true });
    throw new BundleError(
      "integrity_mismatch",
      `${what}: tarball sha512-${actual} does not match the registry's sha512-${expected}`,
    );
  }
  await rename(partial, cached);
  return cached;
}

async function sha512File(path: string): Promise<string> {
  const hash = createHash("sha512");
  for await (const chunk of Bun.file(path).stream()) hash.update(chunk);
  return hash.digest("base64");
}

async function get(url: string, what: string, signal: AbortSignal | undefined): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "follow" });
  } catch (err) {
    throw new BundleError("registry_failed", `${what}: cannot reach ${new URL(url).origin}`, { cause: err });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new BundleError("registry_failed", `${what}: ${url} answered HTTP ${response.status}`);
  }
  return response;
}

async function getJson(url: string, what: string, signal: AbortSignal | undefined): Promise<unknown> {
  const response = await get(url, what, signal);
  try {
    return await response.json();
  } catch (err) {
    throw new BundleError("registry_failed", `${what}: ${url} did not answer JSON`, { cause: err });
  }
}
