import type { FileOp } from "../sandbox/files.ts";
import {
  type CloudConfig,
  type CloudWriteFile,
  configuredHostname,
  decodeWriteFileContent,
} from "./config.ts";
import { type AccountFiles, planUsers } from "./users.ts";

/** Where cloud-init keeps what it was given and what it did for this instance. */
export const INSTANCE_DIR = "/var/lib/cloud/instance";

/**
 * Plans every file cloud-init's modules write, in their real order: hostname, write_files, then users and keys,
 * then deferred write_files, and the runcmd script where cloud-init keeps it (final-stage.ts runs it).
 */
export function planConfigFiles(
  config: CloudConfig,
  spec: { name: string; userData: string },
  accounts: AccountFiles,
): FileOp[] {
  const hostname = configuredHostname(config, spec.name);
  const fqdn = config.fqdn ?? hostname;
  const runcmd = config.runcmd.map((command) =>
    typeof command === "string" ? command : command.map(shlexQuote).join(" "),
  );
  return [
    { kind: "write", path: `${INSTANCE_DIR}/user-data.txt`, mode: "600", content: spec.userData },
    { kind: "write", path: "/etc/hostname", mode: "644", content: `${hostname}\n` },
    {
      kind: "write",
      path: "/etc/hosts",
      mode: "644",
      content: `127.0.0.1 localhost\n127.0.1.1 ${fqdn} ${hostname}\n`,
    },
    ...config.write_files.filter((file) => !file.defer).map(writeFileOp),
    ...planUsers(config, accounts),
    ...config.write_files.filter((file) => file.defer).map(writeFileOp),
    {
      kind: "write",
      path: `${INSTANCE_DIR}/scripts/runcmd`,
      mode: "700",
      content: `#!/bin/sh\n${lines(runcmd)}`,
    },
  ];
}

function writeFileOp(file: CloudWriteFile): FileOp {
  return {
    kind: file.append ? "append" : "write",
    path: file.path,
    mode: file.permissions,
    content: decodeWriteFileContent(file),
  };
}

function lines(entries: string[]): string {
  return entries.map((entry) => `${entry}\n`).join("");
}

/** Python's shlex.quote, which cloud-init uses for list commands: safe words stay bare (remote/'s shellQuote always quotes). */
function shlexQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
