import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../core/config.ts";
import { problemsOf, requiredEnv } from "./config-support.ts";

const dir = mkdtempSync(join(tmpdir(), "config-backup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const s3Env = {
  BACKUP_S3_ENDPOINT: "https://fsn1.your-objectstorage.com/",
  BACKUP_S3_BUCKET: "rachel-backups",
  BACKUP_S3_ACCESS_KEY_ID: "AKIAEXAMPLE",
  BACKUP_S3_SECRET_ACCESS_KEY: "s3-secret-value",
};

test("backups default to ./backups, 48 kept, and no off-box target", () => {
  expect(loadConfig(requiredEnv()).backup).toEqual({ dir: "./backups", keep: 48, s3: null });
});

test("an off-box target is read whole, its secret from the environment or a file", () => {
  const config = loadConfig({ ...requiredEnv(), ...s3Env, BACKUP_DIR: "/var/backups/rp", BACKUP_KEEP: "7" });
  expect(config.backup).toEqual({
    dir: "/var/backups/rp",
    keep: 7,
    s3: {
      endpoint: "https://fsn1.your-objectstorage.com",
      bucket: "rachel-backups",
      region: "us-east-1",
      prefix: "rachel-provisioner/",
      accessKeyId: "AKIAEXAMPLE",
      secretAccessKey: "s3-secret-value",
    },
  });
  const file = join(dir, "s3-secret");
  writeFileSync(file, "from-a-file\n");
  const { BACKUP_S3_SECRET_ACCESS_KEY: _, ...withoutSecret } = s3Env;
  const fromFile = loadConfig({ ...requiredEnv(), ...withoutSecret, BACKUP_S3_SECRET_ACCESS_KEY_FILE: file });
  expect(fromFile.backup.s3?.secretAccessKey).toBe("from-a-file");
});

test("half an off-box target names every missing part; bad values are named without echoing them", () => {
  expect(problemsOf({ ...requiredEnv(), BACKUP_S3_BUCKET: "rachel-backups" })).toEqual([
    "BACKUP_S3_ENDPOINT: required when BACKUP_S3_BUCKET is set",
    "BACKUP_S3_ACCESS_KEY_ID: required when BACKUP_S3_BUCKET is set",
    "BACKUP_S3_SECRET_ACCESS_KEY: required when BACKUP_S3_BUCKET is set",
  ]);
  const problems = problemsOf({
    ...requiredEnv(),
    ...s3Env,
    BACKUP_S3_BUCKET: "Bad_Bucket",
    BACKUP_S3_PREFIX: "/abs",
    BACKUP_KEEP: "0",
  });
  expect(problems).toEqual([
    "BACKUP_KEEP: must be an integer 1-10000",
    "BACKUP_S3_BUCKET: must be an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')",
    "BACKUP_S3_PREFIX: must be path segments of letters, digits, '.', '_' or '-', each ending in '/'",
  ]);
});
