/**
 * The two remote halves of an upgrade, each one SSH round trip running the fixed script release.sh as root:
 * stage (fetch, check, unpack beside the running release; the grant's token travels on stdin only) and
 * switch (atomic rename of `current`, then a restart of the unit).
 */

import type { RemoteSession } from "../../remote/session.ts";
import { shellQuote } from "../../remote/shell-quote.ts";
import { PermanentError } from "../errors.ts";
import { APP_ROOT } from "../provision/cloud-init/bundle-boot.ts";
import { withFetchRelease } from "../shared/fetch-release.ts";

const SCRIPT = withFetchRelease(await Bun.file(new URL("./release.sh", import.meta.url)).text());
/** How much of the script's stderr a failure quotes. */
const STDERR_TAIL_CHARS = 400;
/** Bound of a stage: a 245 MB download over a slow link, then unpacking. */
export const STAGE_TIMEOUT_MS = 15 * 60_000;
/** Bound of a switch: a rename and a restart. */
export const SWITCH_TIMEOUT_MS = 60_000;

function command(action: "stage" | "switch", bundleId: string, arg: string): string {
  return ["sudo", "-n", "/bin/sh", "-c", SCRIPT, "release", action, APP_ROOT, bundleId, arg]
    .map(shellQuote)
    .join(" ");
}

/**
 * Makes the bundle's release exist on the server; returns the bundle `current` pointed at before (null when
 * none did). `token` is the upgrade grant's, written to the script's stdin.
 */
export async function stageRelease(
  session: RemoteSession,
  request: { bundleId: string; url: string; token: string },
  signal: AbortSignal,
): Promise<string | null> {
  const result = await session.exec(command("stage", request.bundleId, request.url), {
    stdin: `Authorization: Bearer ${request.token}\n`,
    timeoutMs: STAGE_TIMEOUT_MS,
    signal,
  });
  if (result.code !== 0) throw refused(session, "staging", request.bundleId, result.stderr, "stage_refused");
  const previous = result.stdout.trim().split("\n")[0] ?? "";
  return /^[0-9a-f]{64}$/.test(previous) ? previous : null;
}

/** Points `current` at the bundle's (already staged) release and restarts the unit. */
export async function switchRelease(
  session: RemoteSession,
  bundleId: string,
  unit: string,
  signal: AbortSignal,
): Promise<void> {
  const result = await session.exec(command("switch", bundleId, unit), {
    timeoutMs: SWITCH_TIMEOUT_MS,
    signal,
  });
  if (result.code !== 0) throw refused(session, "switching to", bundleId, result.stderr, "switch_refused");
}

function refused(session: RemoteSession, what: string, bundleId: string, stderr: string, code: string) {
  const tail = stderr.trim().slice(-STDERR_TAIL_CHARS) || "no stderr";
  return new PermanentError(`${session.where}: ${what} bundle ${bundleId} failed: ${tail}`, { code });
}
