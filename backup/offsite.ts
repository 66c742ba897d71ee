/**
 * The off-box copy in S3-compatible storage (Bun's built-in S3 client): `<prefix><name>/<file>` per snapshot,
 * the manifest uploaded last, then `<prefix>latest.json` pointing at it, so a reader never finds a half-copied
 * snapshot. Old copies expire by the bucket's lifecycle rule (listing is not needed and not relied on).
 */
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { BackupS3Config } from "../core/config.ts";
import { MANIFEST_FILE, parseManifest, SNAPSHOT_FILES, SNAPSHOT_NAME } from "./manifest.ts";

const LATEST = "latest.json";

function clientFor(s3: BackupS3Config): Bun.S3Client {
  return new Bun.S3Client({
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
}

/** Copies the local snapshot `dir` (named `name`) to the bucket and makes it the latest. */
export async function uploadSnapshot(s3: BackupS3Config, name: string, dir: string): Promise<void> {
  const client = clientFor(s3);
  for (const file of [...SNAPSHOT_FILES, MANIFEST_FILE]) {
    await client.write(`${s3.prefix}${name}/${file}`, Bun.file(join(dir, file)));
  }
  await client.write(`${s3.prefix}${LATEST}`, JSON.stringify({ snapshot: name }), {
    type: "application/json",
  });
}

/** The name of the newest snapshot in the bucket, or null when none was ever uploaded. */
export async function latestOffsiteSnapshot(s3: BackupS3Config): Promise<string | null> {
  const pointer = clientFor(s3).file(`${s3.prefix}${LATEST}`);
  if (!(await pointer.exists())) return null;
  const { snapshot } = (await pointer.json()) as { snapshot?: unknown };
  if (typeof snapshot !== "string" || !SNAPSHOT_NAME.test(snapshot)) {
    throw new Error(`${s3.prefix}${LATEST} in bucket ${s3.bucket} names no snapshot`);
  }
  return snapshot;
}

/** Downloads snapshot `name` into `backupDir/<name>` (whole, or not at all); returns that directory. */
export async function downloadSnapshot(s3: BackupS3Config, name: string, backupDir: string): Promise<string> {
  const client = clientFor(s3);
  const partial = join(backupDir, `.partial-${name}`);
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  try {
    const manifestKey = `${s3.prefix}${name}/${MANIFEST_FILE}`;
    if (!(await client.file(manifestKey).exists())) {
      throw new Error(`snapshot ${name} is not in bucket ${s3.bucket} (no ${manifestKey})`);
    }
    parseManifest(await client.file(manifestKey).text(), name);
    for (const file of [...SNAPSHOT_FILES, MANIFEST_FILE]) {
      await Bun.write(join(partial, file), client.file(`${s3.prefix}${name}/${file}`));
    }
    const dir = join(backupDir, name);
    renameSync(partial, dir);
    return dir;
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
}
