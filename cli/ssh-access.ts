/**
 * SSH access to a demo's instance for a person at a terminal: its private key unsealed into a mode-0600 file
 * and a known_hosts file holding only the host key its server reported (the one the provisioner pins). Only
 * for a throwaway stack whose data directory is removed on exit; everywhere else the key stays sealed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Sealer } from "../core/secrets.ts";
import type { Db } from "../db/index.ts";
import { APP_USER } from "../domain/ownership.ts";
import { loadInstance, sshPrivateKeyContext } from "../jobs/shared/instance-row.ts";

/** What `ssh` needs to reach an instance's server as its app user, accepting only its pinned host key. */
export interface SshAccess {
  user: string;
  host: string;
  port: number;
  privateKeyFile: string;
  knownHostsFile: string;
  /** argv that runs ssh where `host` is reachable (the simulator's lab for a container machine); empty when here. */
  via: readonly string[];
}

export interface SshAccessOptions {
  db: Db;
  sealer: Sealer;
  instanceId: string;
  /** Port the servers' sshd listens on (SSH_PORT). */
  sshPort: number;
  /** Directory to write into (created 0700); removed with the demo's data directory. */
  dir: string;
  /** See SshAccess.via; default none. */
  via?: readonly string[];
}

export function writeSshAccess(options: SshAccessOptions): SshAccess {
  const row = loadInstance(options.db, options.instanceId);
  if (row.ipv4 === null || row.sshPrivateKey === null || row.reportedHostKey === null) {
    throw new Error(`instance ${row.id} has no server address, SSH key or reported host key yet`);
  }
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const privateKeyFile = join(options.dir, `${row.id}_ed25519`);
  const knownHostsFile = join(options.dir, "known_hosts");
  const privateKey = options.sealer.open(row.sshPrivateKey, sshPrivateKeyContext(row.id));
  writeFileSync(privateKeyFile, privateKey, { mode: 0o600, flag: "wx" });
  // OpenSSH names a host on a port other than 22 as [host]:port.
  writeFileSync(knownHostsFile, `[${row.ipv4}]:${options.sshPort} ${row.reportedHostKey}\n`, {
    mode: 0o600,
    flag: "wx",
  });
  return {
    user: APP_USER,
    host: row.ipv4,
    port: options.sshPort,
    privateKeyFile,
    knownHostsFile,
    via: options.via ?? [],
  };
}
