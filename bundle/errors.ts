/** Why a bundle build or a bundle lookup failed; `code` is stable, `message` names the input at fault. */
export class BundleError extends Error {
  override readonly name = "BundleError";
  constructor(
    readonly code:
      | "app_checkout_failed"
      | "app_lockfile_missing"
      | "dependencies_failed"
      | "registry_failed"
      | "integrity_mismatch"
      | "archive_failed"
      | "unknown_bundle"
      | "corrupt_bundle",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
