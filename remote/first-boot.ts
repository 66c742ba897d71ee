/**
 * Did the machine's first boot really set it up? phone_home fires even when runcmd failed (measured with
 * real cloud-init 25.1: `status: error`, callback still sent), so before any secret is sent the machine must
 * show the setup marker that the boot script writes last AND `cloud-init status` must not be `error`.
 * One remote sh command, one SSH round trip; nothing secret travels.
 */
import { z } from "zod";
import { RemoteError } from "./errors.ts";
import { REMOTE_TIMEOUT_EXIT, type RemoteSession } from "./session.ts";
import { shellQuote } from "./shell-quote.ts";

export interface ConfirmFirstBootOptions {
  /** Absolute path of the marker written once setup completed (SETUP_COMPLETE_MARKER). */
  markerPath: string;
  /** The boot log quoted by a failure; default /var/log/cloud-init-output.log. */
  bootLogPath?: string;
  /** Boot log lines quoted by a failure; default 20. */
  logLines?: number;
  /** Bound of the remote command, `cloud-init status --wait` included, in ms; default 30000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What a confirmed first boot found; part of inject-secrets' stored output. */
export const firstBootResultSchema = z.object({
  /**
   * "done", or "degraded": cloud-init 23.4+ exits 2 for recoverable errors (a deprecated key, a module
   * warning) after finishing; with the marker present the setup ran to its end, so that is accepted.
   */
  cloudInit: z.enum(["done", "degraded"]),
  /** When setup completed (UTC), as the marker says. */
  setupCompletedAt: z.string(),
  /** The bundle the machine booted, when the marker names one (a boot from a bundle). */
  bundleId: z.string().optional(),
});
export type FirstBootResult = z.infer<typeof firstBootResultSchema>;

/** The first boot failed: no server with this boot will ever come right, so a new one is needed. */
export class FirstBootFailedError extends RemoteError {
  constructor(
    where: string,
    /** Why, e.g. "cloud-init status: error" or "setup marker missing". */
    readonly reason: string,
    /** The boot log's last lines (cloud-init-output.log holds no secret: user-data carries none). */
    readonly log: readonly string[],
  ) {
    const tail = log.length > 0 ? `; last lines of the boot log:\n${log.join("\n")}` : "";
    super("first_boot_failed", `${where}: first boot failed (${reason})${tail}`);
  }
}

const DEFAULTS = { bootLogPath: "/var/log/cloud-init-output.log", logLines: 20, timeoutMs: 30_000 };

/** Resolves when the first boot is known good; throws FirstBootFailedError (permanent) when it is not. */
export async function confirmFirstBoot(
  session: RemoteSession,
  opts: ConfirmFirstBootOptions,
): Promise<FirstBootResult> {
  const { bootLogPath, logLines, timeoutMs } = { ...DEFAULTS, ...opts };
  const result = await session.exec(script(opts.markerPath, bootLogPath, logLines), {
    timeoutMs,
    signal: opts.signal,
  });
  if (result.code === null || result.code === REMOTE_TIMEOUT_EXIT) {
    throw new RemoteError(
      "exec_timeout",
      `${session.where}: cloud-init did not finish within ${timeoutMs} ms`,
    );
  }
  const [head = "", ...rest] = result.stdout.split("\n");
  const [, verdict = "", exit = "", marker = ""] = /^(ok|failed) (\d+) ?(.*)$/.exec(head) ?? [];
  // --wait prints progress dots, and cloud-init 25.1 puts "status: …" right after them on the same line.
  const statusLines = rest
    .map((line) => line.replace(/^\.+/, ""))
    .filter((line) => line.startsWith("status: "));
  const status = statusLines[0]?.slice("status: ".length) ?? `unknown (exit ${exit || result.code})`;
  if (verdict === "ok") {
    const [setupCompletedAt = "", bundleId] = marker.split(" ");
    return {
      cloudInit: exit === "2" ? "degraded" : "done",
      setupCompletedAt,
      ...(bundleId && /^[0-9a-f]{64}$/.test(bundleId) && { bundleId }),
    };
  }
  if (verdict === "") {
    throw new RemoteError(
      "first_boot_failed",
      `${session.where}: the first-boot check exited ${result.code}: ${result.stderr.trim() || "no stderr"}`,
    );
  }
  const log = rest.slice(rest.indexOf("--- log") + 1).filter((line) => line.trim() !== "");
  const reason =
    marker === ""
      ? `setup marker ${opts.markerPath} missing; cloud-init status: ${status}`
      : `cloud-init status: ${status}`;
  throw new FirstBootFailedError(session.where, reason, log.slice(-logLines));
}

/**
 * POSIX sh. Prints "ok|failed EXIT [MARKER CONTENT]", then `cloud-init status --long`'s lines, then (when
 * failed) "--- log" and the boot log's last lines. `--wait` covers the moment between phone_home and
 * boot-finished; a boot that never ends is cut by the command's deadline.
 */
function script(markerPath: string, bootLogPath: string, logLines: number): string {
  const marker = shellQuote(markerPath);
  return [
    "status=$(cloud-init status --wait --long 2>&1); code=$?",
    "completed=",
    `if [ -f ${marker} ]; then IFS= read -r completed < ${marker} || true; fi`,
    "case $code in 0|2) verdict=ok ;; *) verdict=failed ;; esac",
    '[ -n "$completed" ] || verdict=failed',
    'printf "%s %s %s\\n" "$verdict" "$code" "$completed"',
    'printf "%s\\n" "$status"',
    '[ "$verdict" = ok ] && exit 0',
    'echo "--- log"',
    `tail -n ${logLines} ${shellQuote(bootLogPath)} 2>&1 || true`,
  ].join("\n");
}
