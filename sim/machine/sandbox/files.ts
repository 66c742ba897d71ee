import { MachineError } from "../errors.ts";
import type { Sandbox } from "./sandbox.ts";
import { ustarArchive } from "./ustar.ts";

/**
 * File operations on a machine's filesystem, performed by a command INSIDE its sandbox so that paths
 * resolve against the box's root and symlinks planted by the box can never redirect a write to the host.
 */

export type FileOp =
  /** Writes `content` at absolute `path`, creating parents (755), then sets `mode` (octal). */
  | { kind: "write"; path: string; mode: string; content: string | Uint8Array }
  /** Creates directory `path` (and parents) with `mode`. */
  | { kind: "mkdir"; path: string; mode: string };

/**
 * The host's GNU tar, at the same path inside the box (its /bin and /usr are the host's, read-only).
 * -P: names are absolute in the box's own root; --overwrite --dereference: an existing file is rewritten
 * in place and a symlink followed, as a shell's `>` does; -p --no-same-owner --touch: exactly the given
 * mode, owned by the box's root, written now; --keep-directory-symlink: a symlink to a directory stays.
 */
const TAR_EXTRACT =
  "/bin/tar -x -P -p --overwrite --dereference --keep-directory-symlink --no-same-owner --touch -f -";

/** Applies `ops` inside the box, in order, with one tar; a failure is thrown (files after it are still written). */
export async function applyFileOps(sandbox: Sandbox, ops: FileOp[]): Promise<void> {
  const entries = ops.map((op) => {
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
    const content =
      op.kind === "mkdir" ? null : typeof op.content === "string" ? Buffer.from(op.content) : op.content;
    return { path: op.path, mode: Number.parseInt(op.mode, 8), content };
  });
  await sandbox.runOrThrow("cannot apply file changes", TAR_EXTRACT.split(" "), ustarArchive(entries));
}

/**
 * Reads absolute `paths` inside the box in one go, with shell builtins only: text files (a NUL byte,
 * which separates the files in the output, cannot be told apart anyway), byte for byte otherwise.
 */
export async function readFilesInside(sandbox: Sandbox, paths: string[]): Promise<string[]> {
  const script = `set -e
for path in "$@"; do
  while IFS= read -r line; do printf '%s\\n' "$line"; done <"$path"
  printf '%s\\0' "$line"
done`;
  const output = await sandbox.runOrThrow(`cannot read ${paths.join(", ")}`, [
    "/bin/sh",
    "-c",
    script,
    "read",
    ...paths,
  ]);
  return output.split("\0").slice(0, paths.length);
}
