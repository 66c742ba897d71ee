/**
 * A local S3-compatible server (@20minutes/s3rver, a maintained fork of s3rver) on 127.0.0.1 with one bucket,
 * and the BACKUP_S3_* settings that reach it. It checks request signatures with its fixed S3RVER key pair.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "@20minutes/s3rver";
import type { BackupS3Config } from "../../core/config.ts";

export interface TestS3Server {
  config: BackupS3Config;
  /** The same settings as environment variables, for processes. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3Server(bucket = "rachel-backups"): Promise<TestS3Server> {
  const directory = mkdtempSync(join(tmpdir(), "s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const config: BackupS3Config = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: "us-east-1",
    prefix: "rachel-provisioner/",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  };
  return {
    config,
    env: {
      BACKUP_S3_ENDPOINT: config.endpoint,
      BACKUP_S3_BUCKET: bucket,
      BACKUP_S3_ACCESS_KEY_ID: config.accessKeyId,
      BACKUP_S3_SECRET_ACCESS_KEY: config.secretAccessKey,
    },
    async close() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
