import { MachineError } from "../errors.ts";
import type { Sandbox } from "./sandbox.ts";

/**
 * File operations on a machine's filesystem, performed by a shell INSIDE its sandbox so that paths resolve
 * against the box's root and symlinks planted by the box can never redirect a write to the host.
 */

export type FileOp =
  /** Writes `content` at absolute `path`, creating parents (755), then sets `mode` (octal). */
  | { kind: "write"; path: string; mode: string; content: string | Uint8Array }
  /** Creates directory `path` (and parents) with `mode`. */
  | { kind: "mkdir"; path: string; mode: string };

/**
 * Reads "KIND MODE PATH" lines from stdin, each write followed by its content as one base64 line (read by
 * the shell's builtin, byte by byte, so nothing is over-read); files are created under umask 077 and only
 * then given their mode, so a private file is never readable by others, even for a moment.
 */
const APPLY_SCRIPT = `set -e
umask 077
while IFS=' ' read -r kind mode path; do
  if [ "$kind" = mkdir ]; then (umask 022 && mkdir -p -- "$path"); else (umask 022 && mkdir -p -- "\${path%/*}/"); fi
  if [ "$kind" = write ]; then IFS= read -r data && printf '%s' "$data" | base64 -d >"$path"; fi
  chmod "$mode" -- "$path"
done`;

/** Applies `ops` inside the box, in order; the first failure stops the batch and is thrown. */
export async function applyFileOps(sandbox: Sandbox, ops: FileOp[]): Promise<void> {
  const lines = ops.map((op) => {
    if (!op.path.startsWith("/") || /[\t\n\0]/.test(op.path)) {
      throw new MachineError(
        "sandbox_command_failed",
        `not an absolute, single-line path: ${JSON.stringify(op.path)}`,
      );
    }
    if (!/^[0-7]{1,4}$/.test(op.mode)) {
      throw new MachineError(
        "sandbox_command_failed",
        `not an octal mode for ${op.path}: ${JSON.stringify(op.mode)}`,
      );
    }
    const head = `${op.kind} ${op.mode} ${op.path}\n`;
    return op.kind === "mkdir" ? head : `${head}${Buffer.from(op.content).toString("base64")}\n`;
  });
  await sandbox.runOrThrow(
    "cannot apply file changes",
    ["/bin/sh", "-c", APPLY_SCRIPT, "apply"],
    lines.join(""),
  );
}
