/**
 * The bundle archive: a tar.gz whose bytes depend only on the files' names, contents, modes and links.
 * GNU tar normalises what would vary between builds (order, times, owners, umask, hard links) and
 * `gzip -n` leaves the name and time out of its header, so the same tree always gives the same sha256.
 */
import { createHash } from "node:crypto";
import { BundleError } from "./errors.ts";

/** Every member the same, whatever the builder's clock, user and umask. */
const NORMALISING_OPTIONS = [
  "--format=gnu",
  "--sort=name",
  "--mtime=@0",
  "--owner=0",
  "--group=0",
  "--numeric-owner",
  // 0755 for directories and executables, 0644 for everything else.
  "--mode=a+rX,u+w,go-w",
  // A link into a package cache would otherwise decide whether a file is stored as a link.
  "--hard-dereference",
];

export interface ArchiveFacts {
  /** Hex sha256 of the .tar.gz: the bundle's id. */
  sha256: string;
  sizeBytes: number;
}

/** Writes `sourceDir`'s contents (paths relative to it) to `destination`; throws BundleError. */
export async function writeArchive(sourceDir: string, destination: string): Promise<ArchiveFacts> {
  const tar = Bun.spawn(
    ["tar", "--create", ...NORMALISING_OPTIONS, "--file=-", "--directory", sourceDir, "."],
    {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const gzip = Bun.spawn(["gzip", "--no-name", "-6"], { stdin: tar.stdout, stdout: "pipe", stderr: "pipe" });
  const hash = createHash("sha256");
  const writer = Bun.file(destination).writer();
  let sizeBytes = 0;
  const written = (async () => {
    for await (const chunk of gzip.stdout) {
      hash.update(chunk);
      writer.write(chunk);
      sizeBytes += chunk.byteLength;
    }
    await writer.end();
  })();
  const [tarExit, gzipExit, tarErr, gzipErr] = await Promise.all([
    tar.exited,
    gzip.exited,
    new Response(tar.stderr).text(),
    new Response(gzip.stderr).text(),
    written,
  ]);
  if (tarExit !== 0 || gzipExit !== 0) {
    throw new BundleError(
      "archive_failed",
      `tar exited ${tarExit}, gzip ${gzipExit}: ${tarErr}${gzipErr}`.trim(),
    );
  }
  return { sha256: hash.digest("hex"), sizeBytes };
}
