/**
 * A snapshot is a directory named by its time (`20261207T161500123Z`) holding `queue.sqlite`, `app.sqlite`
 * and `manifest.json`; the manifest is written last, so a directory without one is an unfinished snapshot.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

export const MANIFEST_FILE = "manifest.json";
/** The database files of a snapshot, in the order they are taken: the queue first (see snapshot.ts). */
export const SNAPSHOT_FILES = ["queue.sqlite", "app.sqlite"] as const;
export type SnapshotFile = (typeof SNAPSHOT_FILES)[number];

/** Snapshot names: UTC time to the millisecond, so names sort in time order. */
export const SNAPSHOT_NAME = /^\d{8}T\d{9}Z$/;

export const manifestSchema = z.object({
  format: z.literal(1),
  /** ISO time the snapshot began: everything committed before it is in it. */
  takenAt: z.iso.datetime(),
  files: z.record(z.enum(SNAPSHOT_FILES), z.object({ bytes: z.number().int(), sha256: z.string() })),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** The snapshot name for a time: `2026-12-07T16:15:00.123Z` → `20261207T161500123Z`. */
export function snapshotName(at: number): string {
  return new Date(at).toISOString().replace(/[-:.]/g, "");
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Parses a manifest's text; the error names the snapshot. */
export function parseManifest(text: string, snapshot: string): Manifest {
  const parsed = manifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(`snapshot ${snapshot}: invalid ${MANIFEST_FILE}: ${parsed.error.message}`);
  return parsed.data;
}
