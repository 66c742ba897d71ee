/**
 * What a machineless server "has on disk", kept in memory: the accounts cloud-init would create, the setup
 * marker its first boot would write, the files and units the provisioner puts there over SSH.
 */
import type { ParsedKey } from "ssh2";

export interface LoginAccount {
  name: string;
  home: string;
  /** Public keys of its authorized_keys. */
  keys: ParsedKey[];
}

export interface UnitState {
  text: Buffer;
  active: boolean;
}

export interface MachinelessState {
  /** Accounts from the user-data's `users`; empty until the first boot has created them. */
  accounts: Map<string, LoginAccount>;
  /** Files by absolute path (the secrets the provisioner writes, the setup marker, unit files). */
  files: Map<string, Buffer>;
  /** systemd units by name. */
  units: Map<string, UnitState>;
  /** Whether the app bundle's Claude Code CLI is at /usr/local/bin/claude (the claude_cli_missing fault takes it). */
  claudeCli: boolean;
  /** cloud-init's verdict once its final stage ran: null while it runs (what `cloud-init status --wait` waits for). */
  bootResult: Promise<"done" | "error">;
}

/** Where Rachel8 finds the CLI on a booted server (the bundle links it there). */
export const CLAUDE_CLI_PATH = "/usr/local/bin/claude";
