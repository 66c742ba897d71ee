import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { type ParsedKey, utils } from "ssh2";
import { MachineError } from "../errors.ts";
import type { Sandbox, SandboxUser } from "../sandbox/sandbox.ts";

/** A login the box would accept: who, and the public keys in their authorized_keys. */
export interface Account {
  user: SandboxUser;
  keys: ParsedKey[];
}

/**
 * Shell function: prints the passwd entry of "$1" (name, uid, home and shell in their fields), then its
 * authorized_keys lines; returns 2 when the user does not exist. Builtins only: it runs for every SSH login.
 */
const LOOKUP_FUNCTION = `. /opt/sim/lib/sim-passwd.sh
lookup_account() {
  passwd_entry "$1" || return 2
  printf '%s:x:%s:::%s:%s\\n' "$entry_name" "$entry_uid" "$entry_home" "$entry_shell"
  keys="$entry_home/.ssh/authorized_keys"
  if [ -f "$keys" ]; then
    while IFS= read -r line || [ -n "$line" ]; do printf '%s\\n' "$line"; done <"$keys"
  fi
}`;

/** One lookup, as a short script of its own: before the machine has booted its reader. */
const LOOKUP_SCRIPT = `${LOOKUP_FUNCTION}
lookup_account "$1"`;

/**
 * The box's half of sshd, started at boot: reads "TOKEN USER" lines and answers each with the lookup's
 * lines, then "TOKEN STATUS". Reading the files at every login, as sshd does, but without the four
 * processes it takes the host to enter the box for a script of its own.
 */
const READER_SCRIPT = `${LOOKUP_FUNCTION}
while IFS=' ' read -r token user; do
  lookup_account "$user"
  printf '%s %s\\n' "$token" "$?"
done`;

/** Names sshd would look up: anything with whitespace or a control character cannot be a user. */
const PLAIN_NAME = /^[^\s\p{Cc}]+$/u;

/** What a lookup answered: the exit status (0 found, 2 no such user) and the lines it printed. */
interface LookupReply {
  status: number;
  lines: string[];
}

/** The running account reader of each booted box. */
const readers = new WeakMap<Sandbox, AccountReader>();

/**
 * Starts the box's account reader (at boot); it lives until the sandbox closes. Lookups fall back to a
 * script of their own when it is not running.
 */
export function startAccountReader(sandbox: Sandbox): void {
  readers.set(sandbox, new AccountReader(sandbox));
}

/** Reads a user's account from inside the box, as sshd would at login; null when there is no such user. */
export async function lookupAccount(sandbox: Sandbox, username: string): Promise<Account | null> {
  if (!PLAIN_NAME.test(username)) return null;
  const reply = (await readers.get(sandbox)?.lookup(username)) ?? (await lookupByScript(sandbox, username));
  if (reply.status === 2) return null;
  const [entry = "", ...keyLines] = reply.lines;
  const [name = username, , , , , home = "/", shell = "/bin/sh"] = entry.split(":");
  return { user: { name, home, shell }, keys: keyLines.flatMap(parseAuthorizedKeyLine) };
}

async function lookupByScript(sandbox: Sandbox, username: string): Promise<LookupReply> {
  const result = await sandbox.runScript(LOOKUP_SCRIPT, [username]);
  if (result.exitCode !== 0 && result.exitCode !== 2) {
    throw new MachineError(
      "sandbox_command_failed",
      `account lookup for ${username} failed: ${result.stderr.trim()}`,
    );
  }
  return { status: result.exitCode, lines: result.stdout.split("\n") };
}

/** One long-lived shell in the box answering lookups in order; null answers once it has gone. */
class AccountReader {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { token: string; lines: string[]; done: (reply: LookupReply | null) => void }[] = [];
  #partial = "";
  #gone = false;

  constructor(sandbox: Sandbox) {
    this.#child = sandbox.spawn(["/bin/sh", "-c", READER_SCRIPT]);
    this.#child.stdout.setEncoding("utf8").on("data", (chunk: string) => this.#read(chunk));
    this.#child.stderr.resume();
    this.#child.once("close", () => {
      this.#gone = true;
      for (const request of this.#waiting.splice(0)) request.done(null);
    });
  }

  /** The reply, or null when the reader is not (or no longer) running. */
  lookup(username: string): Promise<LookupReply | null> {
    if (this.#gone) return Promise.resolve(null);
    const token = crypto.randomUUID();
    return new Promise((done) => {
      this.#waiting.push({ token, lines: [], done });
      this.#child.stdin.write(`${token} ${username}\n`);
    });
  }

  #read(chunk: string): void {
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop() ?? "";
    for (const line of lines) {
      const request = this.#waiting[0];
      if (request === undefined) continue;
      if (!line.startsWith(`${request.token} `)) {
        request.lines.push(line);
        continue;
      }
      this.#waiting.shift();
      request.done({ status: Number(line.slice(request.token.length + 1)), lines: request.lines });
    }
  }
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
