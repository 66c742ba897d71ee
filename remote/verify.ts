/**
 * Is the unit really running? `systemctl start` succeeds even when the app exits a moment later (Rachel8
 * exits 1 on a bad .env, and Restart=on-failure makes that a loop), so the unit must be `active` at every
 * check across a settle period; the first other state fails with the last journal lines attached.
 * The checks run on the machine, in one remote sh command: one SSH round trip, however long the settle.
 */
import { RemoteError, UnitNotActiveError } from "./errors.ts";
import { scrubSecrets } from "./scrub.ts";
import { type ExecResult, REMOTE_TIMEOUT_EXIT, type RemoteSession } from "./session.ts";
import { shellQuote } from "./shell-quote.ts";

export interface VerifyActiveOptions {
  /** How long the unit must stay active, in ms; default 5000. */
  settleMs?: number;
  /** Pause between `systemctl is-active` checks, in ms; default 500 (below systemd's RestartSec). */
  pollMs?: number;
  /** Journal lines attached to a failure; default 20. */
  journalLines?: number;
  /** Secret values to scrub from journal lines (token-shaped text is scrubbed regardless). */
  redact?: readonly string[];
  /** Bound of the remote command's own work beyond the settle period, in ms; default 15000. */
  commandTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface VerifyActiveResult {
  /** `systemctl is-active` checks made, all on the machine within one SSH round trip. */
  checks: number;
  /** Guaranteed span of activity: the pauses between the first and the last check, in ms (>= settleMs). */
  activeForMs: number;
}

const DEFAULTS = { settleMs: 5_000, pollMs: 500, journalLines: 20, commandTimeoutMs: 15_000 };
/** Exit status of the remote checks when the unit was seen in another state than `active`. */
const NOT_ACTIVE_EXIT = 3;

/** Resolves once the unit has been active at every check for `settleMs`; else throws UnitNotActiveError. */
export async function verifyActive(
  session: RemoteSession,
  unit: string,
  opts: VerifyActiveOptions = {},
): Promise<VerifyActiveResult> {
  const { settleMs, pollMs, journalLines, commandTimeoutMs } = { ...DEFAULTS, ...opts };
  const pauses = pausesBetweenChecks(settleMs, pollMs);
  const result = await session.exec(checksScript(unit, pauses, journalLines), {
    timeoutMs: settleMs + commandTimeoutMs,
    signal: opts.signal,
  });
  if (result.code === 0) {
    return { checks: pauses.length + 1, activeForMs: pauses.reduce((sum, pause) => sum + pause, 0) };
  }
  if (result.code !== NOT_ACTIVE_EXIT) throw checksBroke(session.where, unit, result, opts.redact);
  const [state = "", ...journal] = scrubSecrets(result.stdout, opts.redact).split("\n");
  const lines = journal.filter((line) => line.trim() !== "");
  throw new UnitNotActiveError(unit, state, lines.slice(-journalLines));
}

/** The checks themselves did not finish: killed at their remote deadline (retryable), or the shell failed. */
function checksBroke(
  where: string,
  unit: string,
  result: ExecResult,
  redact: readonly string[] | undefined,
): RemoteError {
  if (result.code === null || result.code === REMOTE_TIMEOUT_EXIT) {
    return new RemoteError("exec_timeout", `${where}: checking ${unit} outlived its remote deadline`);
  }
  const stderr = scrubSecrets(result.stderr.trim(), redact) || "no stderr";
  return new RemoteError(
    "unit_not_active",
    `${where}: could not check ${unit}: exited ${result.code}: ${stderr}`,
  );
}

/**
 * Sleeps between checks, in ms: each `pollMs`, the last one shortened so they add up to exactly `settleMs`.
 * A sleep lasts at least as asked, so the span from the end of the first check to the start of the last
 * is never shorter than their sum, however slow the checks themselves are.
 */
function pausesBetweenChecks(settleMs: number, pollMs: number): number[] {
  const pauses: number[] = [];
  for (let planned = 0; planned < settleMs; planned += pollMs)
    pauses.push(Math.min(pollMs, settleMs - planned));
  return pauses;
}

/**
 * POSIX sh: `systemctl is-active` now and after each pause; exits 0 when always active, else prints the
 * state, then the journal's last lines, and exits NOT_ACTIVE_EXIT.
 */
function checksScript(unit: string, pauses: readonly number[], journalLines: number): string {
  const quoted = shellQuote(unit);
  const seconds = pauses.map((pause) => (pause / 1000).toFixed(3)).join(" ");
  return [
    "check() {",
    `  state=$(systemctl is-active ${quoted}); status=$?`,
    '  [ "$state" = active ] && return 0',
    '  [ -n "$state" ] || state="unknown (exit $status)"',
    '  printf "%s\\n" "$state"',
    `  if journal=$(sudo -n journalctl -u ${quoted} -n ${journalLines} --no-pager 2>&1); then`,
    '    printf "%s\\n" "$journal"',
    '  else printf "journal unavailable: %s\\n" "$journal"; fi',
    `  exit ${NOT_ACTIVE_EXIT}`,
    "}",
    "check",
    `for pause in ${seconds}; do sleep "$pause" || exit 2; check; done`,
  ].join("\n");
}
