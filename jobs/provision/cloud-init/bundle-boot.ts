/**
 * The first boot from an app bundle: the script shipped in user-data (write_files), the grant's token in a
 * root-only header file beside it, and the runcmd entry that starts it. Nothing but the control plane is
 * contacted and nothing is installed from a package manager.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { withFetchRelease } from "../../shared/fetch-release.ts";
import type { CloudConfigFile } from "./cloud-config.ts";
import { InvalidUserDataInputError } from "./errors.ts";

/**
 * Written by boot-from-bundle.sh last ("<UTC time> <sha256>"). phone_home fires even when runcmd failed, so
 * inject-secrets checks this file before any secret is sent.
 */
export const SETUP_COMPLETE_MARKER = "/var/lib/rachel-provisioner/setup-complete";
/** Root-owned directory on the server holding the first-boot script; write_files runs before users exist. */
const SCRIPT_DIR = "/usr/local/lib/rachel-provisioner";
/** Removed by the script once the bundle is unpacked; /run is a tmpfs, so a reboot forgets it too. */
const AUTH_HEADER_FILE = "/run/rachel-provisioner/bundle-auth";
/** Releases unpack into `<APP_ROOT>/releases/<sha256>/`; `<APP_ROOT>/current` points at the running one. */
export const APP_ROOT = "/opt/rachel8";
/** The release the unit runs (and the CLI on PATH resolves through), whichever bundle that is. */
export const CURRENT_RELEASE = `${APP_ROOT}/current`;

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** The grant token: base64url text (core/tokens.ts), which needs no quoting in a header line. */
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

/** The bundle a new server boots, and its leave to download it. */
export interface BundleBoot {
  /** Where to GET it: bundleDownloadUrl() on PUBLIC_BASE_URL. */
  url: string;
  /** The archive's sha256 (its id), checked before anything is unpacked. */
  sha256: string;
  /**
   * The boot grant's token: valid only for this instance, this bundle, from this server's address, and only
   * until its callback or deadline. A single-purpose leave, not a customer secret: it opens nothing else.
   */
  token: string;
}

/** The script and the token's header file, both root-only where they hold anything worth hiding. */
export function bundleBootFiles(bundle: BundleBoot): CloudConfigFile[] {
  const token = checked("bundle.token", bundle.token, TOKEN, "must be 16-256 base64url characters");
  return [
    {
      path: `${SCRIPT_DIR}/boot-from-bundle.sh`,
      content: withFetchRelease(readFileSync(join(import.meta.dir, "boot-from-bundle.sh"), "utf8")),
      owner: "root:root",
      permissions: "0755",
    },
    {
      path: AUTH_HEADER_FILE,
      content: `Authorization: Bearer ${token}\n`,
      owner: "root:root",
      permissions: "0600",
    },
  ];
}

/** The argv runcmd runs as root, in the final stage. */
export function bundleBootCommand(username: string, bundle: BundleBoot, markerPath: string): string[] {
  const sha256 = checked("bundle.sha256", bundle.sha256, SHA256_HEX, "must be 64 lowercase hex digits");
  if (!URL.canParse(bundle.url) || !/^https?:$/.test(new URL(bundle.url).protocol)) {
    throw new InvalidUserDataInputError("bundle.url", "must be an absolute http or https URL");
  }
  const url = new URL(bundle.url);
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    !url.pathname.endsWith(`/bundles/${sha256}`)
  ) {
    throw new InvalidUserDataInputError(
      "bundle.url",
      "must name the bundle by its sha256 and carry no credentials, query or fragment",
    );
  }
  return [
    "/bin/sh",
    `${SCRIPT_DIR}/boot-from-bundle.sh`,
    username,
    url.href,
    sha256,
    AUTH_HEADER_FILE,
    APP_ROOT,
    markerPath,
  ];
}

function checked(field: string, value: string, rule: RegExp, message: string): string {
  if (!rule.test(value)) throw new InvalidUserDataInputError(field, message);
  return value;
}
