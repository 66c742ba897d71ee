/**
 * Can the bot think? Rachel8 (67d3a04) runs its AI through the Claude Code CLI, which it looks for only
 * when a message arrives: on PATH, then in ~/.local/bin, ~/.bun/bin, /usr/local/bin, /opt/homebrew/bin
 * (the first path that exists), and whose login it checks with `claude auth status` (exit 0 and JSON
 * `loggedIn: true`). This check does the same over the pinned session, as the app's user, with the unit's
 * environment (the service manager's PATH, from `systemctl show-environment`), in one round trip.
 * Limit: `auth status` only reads ~/.claude/.credentials.json and never asks the server, so tokens the
 * server would reject still pass; they show up when the bot handles its first message.
 */
import { RemoteError } from "./errors.ts";
import { REMOTE_TIMEOUT_EXIT, type RemoteSession } from "./session.ts";
import { shellQuote } from "./shell-quote.ts";

export interface ClaudeLoginOptions {
  /** The credentials file, relative to the user's home (RACHEL8_PATHS.credentials). */
  credentialsPath: string;
  /** Clock for the expiry check, epoch ms; default Date.now. */
  now?: () => number;
  /** Bound of the remote command, in ms; default 15000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ClaudeLoginResult {
  /** Where the app will find the CLI. */
  cliPath: string;
  /** As `auth status` reports it, e.g. "claude.ai". */
  authMethod: string;
  /** When the access token expires, epoch ms (Claude Code refreshes it itself while a refresh token exists). */
  expiresAt: number | null;
}

/** systemd's PATH for system units, used when the manager does not answer `show-environment`. */
const SYSTEMD_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SEARCHED = "PATH, ~/.local/bin, ~/.bun/bin, /usr/local/bin, /opt/homebrew/bin";

/** Resolves when the CLI is where the app looks and logged in; else throws RemoteError naming which failed. */
export async function checkClaudeLogin(
  session: RemoteSession,
  opts: ClaudeLoginOptions,
): Promise<ClaudeLoginResult> {
  const result = await session.exec(script(opts.credentialsPath), {
    timeoutMs: opts.timeoutMs ?? 15_000,
    signal: opts.signal,
  });
  const sections = result.stdout.split("\n--- ");
  const [cliLine = "", authExitLine = "", ...authLines] = (sections[0] ?? "").split("\n");
  if (result.code === null || result.code === REMOTE_TIMEOUT_EXIT) {
    throw new RemoteError(
      "exec_timeout",
      `${session.where}: the Claude Code check outlived its remote deadline`,
    );
  }
  if (result.code !== 0 || !cliLine.startsWith("cli")) {
    throw new RemoteError(
      "login_check_failed",
      `${session.where}: the Claude Code check exited ${result.code}: ${result.stderr.trim().slice(-300) || "no stderr"}`,
    );
  }
  if (cliLine === "cli-missing") {
    throw new RemoteError(
      "cli_missing",
      `${session.where}: Claude Code CLI not found where Rachel8 looks for it (${SEARCHED}), with the unit's environment`,
    );
  }
  const cliPath = cliLine.slice("cli ".length);
  const status = parseStatus(authLines.join("\n"));
  const authExit = authExitLine.slice("auth-exit ".length);
  if (authExit !== "0" || status?.loggedIn !== true) {
    const said = status ? `loggedIn ${status.loggedIn}, authMethod ${status.authMethod}` : "no JSON";
    throw new RemoteError(
      "not_logged_in",
      `${session.where}: ${cliPath} auth status says not logged in (exit ${authExit}, ${said})`,
    );
  }
  // auth status ignores expiry; a token past it with no refresh token fails the first message.
  const oauth = parseOauth(sections[1]?.replace(/^credentials\n/, "") ?? "");
  const now = (opts.now ?? Date.now)();
  const expiresAt = typeof oauth?.expiresAt === "number" ? oauth.expiresAt : null;
  const refreshable = typeof oauth?.refreshToken === "string" && oauth.refreshToken !== "";
  if (expiresAt !== null && expiresAt <= now && !refreshable) {
    throw new RemoteError(
      "login_expired_no_refresh",
      `${session.where}: the Claude login expired at ${new Date(expiresAt).toISOString()} and there is no refresh token`,
    );
  }
  return { cliPath, authMethod: String(status.authMethod), expiresAt };
}

/**
 * The machine's current `claudeAiOauth` credentials, read over the session (the values stay in memory and
 * out of every message). Throws RemoteError `not_logged_in` when the file is missing or not a login.
 */
export async function readClaudeCredentials(
  session: RemoteSession,
  credentialsPath: string,
  signal?: AbortSignal,
): Promise<{ accessToken: string; refreshToken: string; expiresAt: number; scopes: string[] }> {
  const result = await session.exec(`cat "$HOME"/${shellQuote(credentialsPath)}`, {
    timeoutMs: 15_000,
    signal,
  });
  const oauth = result.code === 0 ? (parseOauth(result.stdout) as Record<string, unknown> | null) : null;
  const { accessToken, refreshToken, expiresAt, scopes } = oauth ?? {};
  if (
    typeof accessToken !== "string" ||
    typeof refreshToken !== "string" ||
    typeof expiresAt !== "number" ||
    !Array.isArray(scopes) ||
    !scopes.every((scope) => typeof scope === "string")
  ) {
    throw new RemoteError(
      "not_logged_in",
      `${session.where}: no complete Claude login in ~/${credentialsPath}`,
    );
  }
  return { accessToken, refreshToken, expiresAt, scopes };
}

function parseStatus(text: string): { loggedIn?: unknown; authMethod?: unknown } | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? parsed : null;
  } catch {
    return null;
  }
}

/** The claudeAiOauth object of the credentials file; its values stay in this process and out of messages. */
function parseOauth(text: string): { expiresAt?: unknown; refreshToken?: unknown } | null {
  const parsed = parseStatus(text) as { claudeAiOauth?: unknown } | null;
  const oauth = parsed?.claudeAiOauth;
  return typeof oauth === "object" && oauth !== null ? oauth : null;
}

/**
 * POSIX sh, as the login user: take the manager's PATH, then in a clean environment like the unit's resolve
 * the CLI as Rachel8 does and run `auth status`. Prints "cli PATH" (or "cli-missing"), "auth-exit N", the
 * status JSON, then "--- credentials" and the credentials file (read to check expiry; never echoed further).
 */
function script(credentialsPath: string): string {
  const lookup = [
    'p=$(command -v claude 2>/dev/null) || p=""',
    'if [ -z "$p" ]; then for c in "$HOME/.local/bin/claude" "$HOME/.bun/bin/claude" /usr/local/bin/claude /opt/homebrew/bin/claude; do',
    '  if [ -e "$c" ]; then p=$c; break; fi',
    "done; fi",
    'if [ -z "$p" ]; then echo cli-missing; exit 0; fi',
    'echo "cli $p"',
    'out=$("$p" auth status 2>/dev/null); echo "auth-exit $?"',
    'printf "%s\\n" "$out"',
  ].join("\n");
  return [
    `manager_path=${SYSTEMD_DEFAULT_PATH}`,
    "if environment=$(systemctl show-environment 2>/dev/null); then",
    '  while IFS== read -r key value; do if [ "$key" = PATH ]; then manager_path=$value; fi; done <<EOF',
    "$environment",
    "EOF",
    "fi",
    'env -i HOME="$HOME" USER="$USER" LOGNAME="$USER" SHELL="$SHELL" LANG=C.UTF-8 PATH="$manager_path" \\',
    `  /bin/sh -c ${shellQuote(lookup)} || exit $?`,
    "echo '--- credentials'",
    `cat "$HOME"/${shellQuote(credentialsPath)} 2>/dev/null || true`,
  ].join("\n");
}
