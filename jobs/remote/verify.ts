/**
 * Is the unit really running? `systemctl start` succeeds even when the app exits a moment later (Rachel8
 * exits 1 on a bad .env, and Restart=on-failure makes that a loop), so the unit must be `active` at every
 * check across a settle period; the first other state fails with the last journal lines attached.
 */
import { sleep } from "../../core/abort.ts";
import { UnitNotActiveError } from "./errors.ts";
import { scrubSecrets } from "./scrub.ts";
import type { RemoteSession } from "./session.ts";
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
  /** Bound of each remote command, in ms; default 15000. */
  commandTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface VerifyActiveResult {
  /** `systemctl is-active` checks made (one SSH round trip each). */
  checks: number;
  /** Guaranteed span of activity: from the end of the first check to the start of the last, in ms (>= settleMs). */
  activeForMs: number;
}

const DEFAULTS = { settleMs: 5_000, pollMs: 500, journalLines: 20, commandTimeoutMs: 15_000 };

/** Resolves once the unit has been active at every check for `settleMs`; else throws UnitNotActiveError. */
export async function verifyActive(
  session: RemoteSession,
  unit: string,
  opts: VerifyActiveOptions = {},
): Promise<VerifyActiveResult> {
  const { settleMs, pollMs, journalLines, commandTimeoutMs } = { ...DEFAULTS, ...opts };
  const execOpts = { timeoutMs: commandTimeoutMs, signal: opts.signal };
  // A check proves "active" at some instant of its round trip, so the span that counts runs from the
  // END of the first check to the START of the last: slow round trips can never shorten the settle period.
  let activeSince: number | undefined;
  for (let checks = 1; ; checks++) {
    const checkStarted = performance.now();
    const probe = await session.exec(`systemctl is-active ${shellQuote(unit)}`, execOpts);
    const state = probe.stdout.trim() || `unknown (exit ${probe.code})`;
    if (state !== "active") throw await notActive(session, unit, state, journalLines, opts);
    activeSince ??= performance.now();
    const activeForMs = checkStarted - activeSince;
    if (activeForMs >= settleMs) return { checks, activeForMs };
    await sleep(Math.min(pollMs, settleMs - Math.max(0, performance.now() - activeSince)), opts.signal);
  }
}

/** The failure, with the unit's last journal lines (secrets scrubbed). */
async function notActive(
  session: RemoteSession,
  unit: string,
  state: string,
  journalLines: number,
  opts: VerifyActiveOptions,
): Promise<UnitNotActiveError> {
  const journal = await session.exec(
    `sudo -n journalctl -u ${shellQuote(unit)} -n ${journalLines} --no-pager`,
    {
      timeoutMs: opts.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
      signal: opts.signal,
    },
  );
  const text = journal.code === 0 ? journal.stdout : `journal unavailable: ${journal.stderr}`;
  const lines = scrubSecrets(text, opts.redact)
    .split("\n")
    .filter((line) => line.trim() !== "");
  return new UnitNotActiveError(unit, scrubSecrets(state, opts.redact), lines.slice(-journalLines));
}
