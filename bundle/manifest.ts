/**
 * What a bundle holds. The archive carries `bundle.json` (its contents, no build time, so it does not move the
 * hash); the store keeps `manifest.json` beside the archive with the archive's own facts added.
 */
import { z } from "zod";
import { BUNDLE_ARCHITECTURES } from "./architecture.ts";

/** Layout inside the archive, relative to the directory it is unpacked into (a release directory). */
export const BUNDLE_LAYOUT = {
  contents: "bundle.json",
  bun: "bin/bun",
  claude: "bin/claude",
  app: "app",
} as const;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A bundle id: the hex sha256 of its archive. */
export const bundleIdSchema = z.string().regex(SHA256_HEX);

export const bundleContentsSchema = z.object({
  /** Version of this layout; a server refuses a bundle it does not know how to unpack. */
  format: z.literal(1),
  architecture: z.enum(BUNDLE_ARCHITECTURES),
  appRepoUrl: z.string(),
  appRef: z.string(),
  appCommit: z.string().regex(/^[0-9a-f]{40}$/),
  bunVersion: z.string(),
  claudeCodeVersion: z.string(),
});
export type BundleContents = z.infer<typeof bundleContentsSchema>;

export const bundleManifestSchema = bundleContentsSchema.extend({
  /** Hex sha256 of the archive, which is also its id and its directory's name. */
  id: bundleIdSchema,
  sizeBytes: z.number().int().positive(),
  /** When this bundle was first built, epoch ms (a rebuild of the same inputs keeps the first). */
  builtAt: z.number().int(),
  /** How long that build took, in ms. */
  buildMs: z.number().int().nonnegative(),
});
export type BundleManifest = z.infer<typeof bundleManifestSchema>;
