/**
 * A stand-in npm registry on loopback: per-platform packages built from the given files, served as the real
 * registry serves them (a version document with dist.tarball and a sha512 integrity, then the tarball).
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runTool } from "../../bundle/command.ts";

export interface PackageFile {
  path: string;
  content: string | Uint8Array;
  executable?: boolean;
}

export interface RegistryPackage {
  name: string;
  version: string;
  files: readonly PackageFile[];
}

export interface FakeRegistry {
  url: string;
  /** Paths requested, in order. */
  readonly requests: string[];
  /** Serves different bytes for this package's tarball than its integrity promises. */
  tamper(name: string): void;
  stop(): Promise<void>;
}

/** An npm-style tarball (`package/…`) of the files. */
async function packTarball(pkg: RegistryPackage, workDir: string): Promise<Uint8Array> {
  const dir = await mkdtemp(join(workDir, "pack-"));
  for (const file of pkg.files) {
    const path = join(dir, "package", file.path);
    await mkdir(dirname(path), { recursive: true });
    await Bun.write(path, file.content);
    await chmod(path, file.executable ? 0o755 : 0o644);
  }
  await Bun.write(
    join(dir, "package", "package.json"),
    JSON.stringify({ name: pkg.name, version: pkg.version }),
  );
  const tgz = join(dir, "out.tgz");
  // gzip -1: the registry stands in for speed of setup, not for npm's compression level.
  await runTool(
    { argv: ["tar", "--use-compress-program=gzip -1", "-cf", tgz, "-C", dir, "package"] },
    "archive_failed",
  );
  return new Uint8Array(await Bun.file(tgz).arrayBuffer());
}

export async function startFakeRegistry(packages: readonly RegistryPackage[]): Promise<FakeRegistry> {
  const workDir = await mkdtemp(join(tmpdir(), "fake-registry-"));
  const tarballs = new Map<string, Uint8Array>();
  for (const pkg of packages) tarballs.set(`${pkg.name}@${pkg.version}`, await packTarball(pkg, workDir));
  const requests: string[] = [];
  const tampered = new Set<string>();
  const server: Bun.Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request): Response {
      const { pathname } = new URL(request.url);
      requests.push(pathname);
      const tarball = /^\/tarballs\/(.+)\/(.+)\.tgz$/.exec(pathname);
      if (tarball) {
        const name = decodeURIComponent(tarball[1] ?? "");
        const bytes = tarballs.get(`${name}@${tarball[2]}`);
        if (!bytes) return new Response("not found", { status: 404 });
        return new Response(tampered.has(name) ? bytes.slice(0, -1) : bytes);
      }
      const document = /^\/(.+)\/([^/]+)$/.exec(pathname);
      const name = decodeURIComponent(document?.[1] ?? "");
      const version = document?.[2] ?? "";
      const bytes = tarballs.get(`${name}@${version}`);
      if (!bytes) return Response.json({ error: "not found" }, { status: 404 });
      const integrity = `sha512-${createHash("sha512").update(bytes).digest("base64")}`;
      const tarballUrl: string = `${server.url.origin}/tarballs/${encodeURIComponent(name)}/${version}.tgz`;
      return Response.json({ name, version, dist: { tarball: tarballUrl, integrity } });
    },
  });
  return {
    url: server.url.origin,
    requests,
    tamper: (name) => tampered.add(name),
    async stop() {
      await server.stop(true);
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
