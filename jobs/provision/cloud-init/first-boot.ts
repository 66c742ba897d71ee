/**
 * The first-boot scripts shipped in user-data (write_files) and the runcmd entry that starts them.
 * The scripts live beside this file as real shell files so they can be read, linted and run as such.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { CloudConfigFile } from "./cloud-config.ts";

/** Root-owned directory on the server holding the scripts; write_files runs before users exist. */
const SCRIPT_DIR = "/usr/local/lib/rachel-provisioner";

/**
 * Written by prepare-host.sh (UTC timestamp) once Bun, the app and its dependencies are installed.
 * phone_home fires even when runcmd failed, so the SSH step checks this file before injecting secrets.
 */
export const SETUP_COMPLETE_MARKER = "/var/lib/rachel-provisioner/setup-complete";

function scriptFile(name: string, permissions: string): CloudConfigFile {
  return {
    path: `${SCRIPT_DIR}/${name}`,
    content: readFileSync(join(import.meta.dir, name), "utf8"),
    owner: "root:root",
    permissions,
  };
}

/** retry.sh is only sourced, the other two are executed. */
export const FIRST_BOOT_FILES: readonly CloudConfigFile[] = [
  scriptFile("retry.sh", "0644"),
  scriptFile("prepare-host.sh", "0755"),
  scriptFile("install-app.sh", "0755"),
];

/** What prepare-host.sh needs, all validated and public (user-data is readable on the server). */
export interface FirstBootOptions {
  username: string;
  appRepoUrl: string;
  /** Branch, tag or commit; "HEAD" is the repository's default branch. */
  appRef: string;
  /** e.g. "1.2.3"; null installs the newest release. */
  bunVersion: string | null;
  packages: readonly string[];
}

/** The argument vector runcmd runs as root (in the final stage, after the packages step). */
export function firstBootCommand(options: FirstBootOptions): string[] {
  return [
    "/bin/bash",
    `${SCRIPT_DIR}/prepare-host.sh`,
    options.username,
    options.appRepoUrl,
    options.appRef,
    options.bunVersion ?? "",
    SETUP_COMPLETE_MARKER,
    ...options.packages,
  ];
}
