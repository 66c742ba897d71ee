import { MachineError } from "../errors.ts";
import type { Sandbox } from "./sandbox.ts";

/**
 * File operations on a machine's filesystem, performed by a command INSIDE its sandbox so that paths
 * resolve against the box's root and symlinks planted by the box can never redirect a write to the host.
 * Operations are batched: starting a sandbox costs tens of milliseconds.
 */

export type FileOp =
  /** Writes (or appends) `content` at absolute `path`, creating parents, then sets `mode` (octal). */
  | { kind: "write" | "append"; path: string; mode: string; content: string | Uint8Array }
  /** Creates directory `path` (and parents) with `mode`. */
  | { kind: "mkdir"; path: string; mode: string };

/**
 * Reads "op TAB mode TAB umask TAB size TAB path" headers, each followed by `size` bytes of content.
 * Parents are made only when missing (paths are absolute, so the parent is the path up to its last "/").
 * A new file whose mode creation can give (no execute or special bits) is created under `umask`, which
 * spares a chmod process; any other gets its mode from chmod ("-" as umask).
 */
const APPLY_SCRIPT = `set -e
tab=$(printf '\\t')
saved=$(umask)
parent() { dir=\${1%/*}; [ -d "\${dir:-/}" ] || mkdir -p -- "\${dir:-/}"; }
while IFS=$tab read -r op mode create_umask size path; do
  case $op in
    mkdir) install -d -m "$mode" -- "$path"; continue ;;
    write|append) parent "$path" ;;
    *) echo "unknown file operation: $op" >&2; exit 1 ;;
  esac
  if [ "$create_umask" != - ] && [ ! -e "$path" ] && [ ! -L "$path" ]; then
    umask "$create_umask"
    head -c "$size" >"$path"
    umask "$saved"
  elif [ "$op" = write ]; then
    head -c "$size" >"$path"; chmod "$mode" -- "$path"
  else
    head -c "$size" >>"$path"; chmod "$mode" -- "$path"
  fi
done`;

/** The umask under which creating a file gives it `mode` (octal), or "-" when only chmod can. */
function creationUmask(mode: string): string {
  const bits = Number.parseInt(mode, 8);
  return (bits & 0o7111) === 0 ? (0o777 & ~bits).toString(8).padStart(3, "0") : "-";
}

/** Applies `ops` in order inside the box; the first failure stops the batch and is thrown. */
export async function applyFileOps(sandbox: Sandbox, ops: FileOp[]): Promise<void> {
  const chunks: Uint8Array[] = [];
  for (const op of ops) {
    if (!op.path.startsWith("/") || /[\t\n]/.test(op.path)) {
      throw new MachineError(
        "sandbox_command_failed",
        `not an absolute, single-line path: ${JSON.stringify(op.path)}`,
      );
    }
    const content = op.kind === "mkdir" ? new Uint8Array() : toBytes(op.content);
    const header = `${op.kind}\t${op.mode}\t${creationUmask(op.mode)}\t${content.byteLength}\t${op.path}\n`;
    chunks.push(toBytes(header), content);
  }
  await sandbox.runOrThrow(
    "cannot apply file changes",
    ["/bin/sh", "-c", APPLY_SCRIPT],
    Buffer.concat(chunks),
  );
}

/** Reads absolute `paths` inside the box in one go. */
export async function readFilesInside(sandbox: Sandbox, paths: string[]): Promise<string[]> {
  const script = 'set -e; for path in "$@"; do cat -- "$path"; printf "\\0"; done';
  const output = await sandbox.runOrThrow(`cannot read ${paths.join(", ")}`, [
    "/bin/sh",
    "-c",
    script,
    "read",
    ...paths,
  ]);
  return output.split("\0").slice(0, paths.length);
}

function toBytes(content: string | Uint8Array): Uint8Array {
  return typeof content === "string" ? Buffer.from(content, "utf8") : content;
}
