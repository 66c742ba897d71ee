import { type ParsedKey, utils } from "ssh2";
import { MachineError } from "../errors.ts";
import type { Sandbox, SandboxUser } from "../sandbox/sandbox.ts";

/** A login the box would accept: who, and the public keys in their authorized_keys. */
export interface Account {
  user: SandboxUser;
  keys: ParsedKey[];
}

/**
 * Prints the passwd entry of "$1", then its authorized_keys lines; exits 2 when the user does not exist.
 * Read at every login, as sshd reads them.
 */
const LOOKUP_SCRIPT = `entry=$(getent passwd "$1") || exit 2
printf '%s\\n' "$entry"
home=\${entry%:*}
keys="\${home##*:}/.ssh/authorized_keys"
if [ -f "$keys" ]; then
  while IFS= read -r line || [ -n "$line" ]; do printf '%s\\n' "$line"; done <"$keys"
fi`;

/** Names sshd would look up: anything with whitespace or a control character cannot be a user. */
const PLAIN_NAME = /^[^\s\p{Cc}]+$/u;

/** Reads a user's account from inside the box, as sshd would at login; null when there is no such user. */
export async function lookupAccount(sandbox: Sandbox, username: string): Promise<Account | null> {
  if (!PLAIN_NAME.test(username)) return null;
  const result = await sandbox.run(["/bin/sh", "-c", LOOKUP_SCRIPT, "lookup", username]);
  if (result.exitCode === 2) return null;
  if (result.exitCode !== 0) {
    throw new MachineError(
      "sandbox_command_failed",
      `account lookup for ${username} failed: ${result.stderr.trim()}`,
    );
  }
  const [entry = "", ...keyLines] = result.stdout.split("\n");
  const [name = username, , , , , home = "/", shell = "/bin/sh"] = entry.split(":");
  return { user: { name, home, shell }, keys: keyLines.flatMap(parseAuthorizedKeyLine) };
}

/** Parses one authorized_keys line, skipping options before the key type; bad lines are ignored as sshd does. */
function parseAuthorizedKeyLine(line: string): ParsedKey[] {
  const trimmed = line.trim();
  if (trimmed === "" || trimmed.startsWith("#")) return [];
  const start = trimmed.search(/(^|\s)(ssh-|ecdsa-|sk-)/);
  if (start < 0) return [];
  const parsed = utils.parseKey(trimmed.slice(start).trim());
  if (parsed instanceof Error) return [];
  return Array.isArray(parsed) ? parsed : [parsed];
}
