/**
 * CPU architectures a bundle is built for, named as Node and Bun name them (`process.arch`), and which
 * architecture a Hetzner server type runs. Hetzner's only Arm line is CAX (Ampere Altra); every other type
 * (CX, CPX, CCX) is x86-64.
 */

export const BUNDLE_ARCHITECTURES = ["x64", "arm64"] as const;
export type BundleArchitecture = (typeof BUNDLE_ARCHITECTURES)[number];

/** The architecture of a Hetzner server type by its name ("cax11" → arm64, "cx23" → x64). */
export function architectureOfServerType(serverType: string): BundleArchitecture {
  return /^cax\d/.test(serverType) ? "arm64" : "x64";
}

/** The architectures the configured server types need, each once, x64 first. */
export function architecturesFor(serverTypes: readonly string[]): BundleArchitecture[] {
  const needed = new Set(serverTypes.map(architectureOfServerType));
  return BUNDLE_ARCHITECTURES.filter((architecture) => needed.has(architecture));
}

export function isBundleArchitecture(value: string): value is BundleArchitecture {
  return (BUNDLE_ARCHITECTURES as readonly string[]).includes(value);
}
