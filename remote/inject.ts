/**
 * Secret injection in ONE SSH round trip: a fixed POSIX sh script (inject.sh) runs as the login user; the
 * secret files and the unit travel on its stdin, one escaped line each, never on a command line (visible in
 * `ps`) nor in any message. Idempotent: unchanged content is left alone (same inode) and the unit is only
 * started; changed content is swapped in by rename and an installed unit restarted.
 */
import { RemoteError } from "./errors.ts";
import { scrubSecrets, secretPieces } from "./scrub.ts";
import type { ExecResult, RemoteSession } from "./session.ts";
import { shellQuote } from "./shell-quote.ts";

const SCRIPT = await Bun.file(new URL("./inject.sh", import.meta.url)).text();

export interface SecretFile {
  /** Path relative to the login user's home, e.g. "rachel8/.env"; letters, digits, ".", "_", "-", "/". */
  path: string;
  /** The whole file; written with mode 0600, owned by the login user. */
  content: string;
}

export interface UnitFile {
  /** Unit name, e.g. "rachel8.service". */
  name: string;
  /** The unit file's text (installed mode 0644, owned by root through sudo). */
  text: string;
  /** Directory of system units; default "/etc/systemd/system". */
  dir?: string;
}

export interface InjectOptions {
  /** Bound of the remote run (including `systemctl restart`), in ms; default 120000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface InjectResult {
  /** Paths (as given) whose content was replaced; empty when all were already as wanted. */
  changedFiles: string[];
  unitChanged: boolean;
  /**
   * "restarted" when anything changed under an already installed unit (or a previous run was cut off),
   * else "started" (a first run, or a no-op if running).
   */
  action: "started" | "restarted";
}

const DEFAULT_UNIT_DIR = "/etc/systemd/system";
const DEFAULT_TIMEOUT_MS = 120_000;
/** Home-relative path: no leading "/", no "..", only characters that need no quoting anywhere. */
const RELATIVE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
const ABSOLUTE_DIR = /^(?:\/[A-Za-z0-9._-]+)+$/;
const UNIT_NAME = /^[A-Za-z0-9@._-]+\.service$/;
/** How much of the remote stderr a failure message quotes. */
const STDERR_TAIL_CHARS = 600;

function validate(files: readonly SecretFile[], unit: UnitFile, unitDir: string): void {
  const bad = (what: string) => new RemoteError("invalid_request", `secret injection: ${what}`);
  if (files.length === 0) throw bad("no files given");
  const seen = new Set<string>();
  for (const file of files) {
    if (!RELATIVE_PATH.test(file.path))
      throw bad(`file path ${JSON.stringify(file.path)} is not a safe home-relative path`);
    if (seen.has(file.path)) throw bad(`file path ${file.path} is given twice`);
    seen.add(file.path);
  }
  if (!UNIT_NAME.test(unit.name)) throw bad(`unit name ${JSON.stringify(unit.name)} is not a *.service name`);
  if (!ABSOLUTE_DIR.test(unitDir))
    throw bad(`unit dir ${JSON.stringify(unitDir)} is not a safe absolute path`);
}

/** One line per file, then the unit: the framing inject.sh reads with `read -r` and decodes with printf %b. */
function payload(files: readonly SecretFile[], unit: UnitFile): string {
  return `${[...files.map((file) => file.content), unit.text].map(escapeLine).join("\n")}\n`;
}

/** Printable ASCII as is; every other byte, and "\\", as a %b octal escape (\0NNN), so a line holds any content. */
function escapeLine(text: string): string {
  let line = "";
  for (const byte of Buffer.from(text)) {
    line +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\0${byte.toString(8).padStart(3, "0")}`;
  }
  return line;
}

function parseOutput(stdout: string): InjectResult | null {
  const changedFiles: string[] = [];
  let unitChanged: boolean | undefined;
  let action: InjectResult["action"] | undefined;
  for (const line of stdout.split("\n")) {
    const [, key, value = ""] = /^(changed|unit-changed|action) (.*)$/.exec(line) ?? [];
    if (key === "changed") changedFiles.push(value);
    else if (key === "unit-changed") unitChanged = value === "1";
    else if (key === "action" && (value === "started" || value === "restarted")) action = value;
  }
  return unitChanged === undefined || action === undefined ? null : { changedFiles, unitChanged, action };
}

function describeExit(result: ExecResult): string {
  if (result.code === null) return `died of signal ${result.signal}`;
  return result.code === 0 ? "printed no result" : `exited ${result.code}`;
}

/**
 * Writes each file atomically (temp in the same directory + rename, umask 077, mode 0600), installs the unit
 * atomically via sudo, then daemon-reload, enable and start/restart — all in one exec. Safe to run twice.
 * Throws `inject_failed` (remote stderr quoted, scrubbed) or the session's connection errors.
 */
export async function injectSecrets(
  session: RemoteSession,
  files: readonly SecretFile[],
  unit: UnitFile,
  opts: InjectOptions = {},
): Promise<InjectResult> {
  const unitDir = unit.dir ?? DEFAULT_UNIT_DIR;
  validate(files, unit, unitDir);
  const args = [unitDir, unit.name, ...files.map((file) => file.path)].map(shellQuote).join(" ");
  // The session already runs the command under /bin/sh: the script runs in that shell, not in another.
  const command = `set -- ${args}\n${SCRIPT}`;
  const result = await session.exec(command, {
    stdin: payload(files, unit),
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: opts.signal,
  });
  const parsed = result.code === 0 ? parseOutput(result.stdout) : null;
  if (parsed === null) {
    const secrets = files.flatMap((file) => [file.content, ...secretPieces(file.content)]);
    const stderr = scrubSecrets(result.stderr.trim().slice(-STDERR_TAIL_CHARS), secrets);
    const status = describeExit(result);
    throw new RemoteError(
      "inject_failed",
      `${session.where}: secret injection ${status}: ${stderr || "no stderr"}`,
    );
  }
  return parsed;
}
