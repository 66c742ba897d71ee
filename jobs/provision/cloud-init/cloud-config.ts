/**
 * The subset of #cloud-config the provisioner writes, as types, and its one serializer. Keys keep
 * cloud-init's spelling so the object maps one to one onto the document cloud-init reads.
 */
import { Document } from "yaml";

/** An account created by cloud-init's users module (init stage, before runcmd). */
export interface CloudConfigUser {
  name: string;
  groups: string[];
  /** A sudoers rule for the user, e.g. "ALL=(ALL) NOPASSWD:ALL". */
  sudo: string;
  shell: string;
  /** true: no password login at all; the user logs in with its key only. */
  lock_passwd: boolean;
  ssh_authorized_keys: string[];
}

/** A file written by the write_files module (init stage, before users exist: root-owned paths only). */
export interface CloudConfigFile {
  path: string;
  content: string;
  /** "user:group", e.g. "root:root". */
  owner: string;
  /** Octal mode as a string, e.g. "0755" (a YAML number would be read as decimal). */
  permissions: string;
}

/** Values cloud-init's phone_home module can post, form-encoded, to its URL. */
export type PhoneHomeField =
  | "pub_key_rsa"
  | "pub_key_ecdsa"
  | "pub_key_ed25519"
  | "instance_id"
  | "hostname"
  | "fqdn";

/** The phone_home module: one form-encoded POST at the end of the final stage. */
export interface CloudConfigPhoneHome {
  /** Must not contain "$": cloud-init substitutes $NAME patterns in it and fails on unknown names. */
  url: string;
  post: PhoneHomeField[];
  /** Attempts, 3 s apart. cloud-init's default 10. */
  tries: number;
}

/** The whole document. runcmd entries are argument vectors: cloud-init quotes each argument itself. */
export interface CloudConfig {
  /**
   * "localhost": cloud-init adds "127.0.1.1 <fqdn> <hostname>" to /etc/hosts (and leaves the rest), so
   * sudo resolves its own host name without DNS; where DNS does not answer it waited 12-18 s per sudo.
   */
  manage_etc_hosts: "localhost";
  users: CloudConfigUser[];
  /** The three package keys are left out when nothing is installed: cloud-init rejects `packages: []`. */
  package_update?: boolean;
  package_upgrade?: boolean;
  packages?: string[];
  write_files: CloudConfigFile[];
  runcmd: string[][];
  phone_home: CloudConfigPhoneHome;
  final_message: string;
}

/**
 * YAML text cloud-init accepts as user-data: the "#cloud-config" header line, then the document.
 * YAML 1.1 because cloud-init parses with PyYAML, which reads unquoted yes/on/0755/1:20 as non-strings;
 * no line folding so every value stays on one line.
 */
export function serializeCloudConfig(config: CloudConfig): string {
  const document = new Document(config, { version: "1.1" });
  document.commentBefore = "cloud-config";
  return document.toString({ lineWidth: 0 });
}
