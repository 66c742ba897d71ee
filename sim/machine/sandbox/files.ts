import { MachineError } from "../errors.ts";
import type { Sandbox } from "./sandbox.ts";
import { type ArchiveEntry, ustarArchive } from "./ustar.ts";

/**
 * File operations on a machine's filesystem, performed by commands INSIDE its sandbox so that paths
 * resolve against the box's root and symlinks planted by the box can never redirect a write to the host.
 * A batch costs the host one or two processes (each costs about a millisecond of its CPU): one GNU tar
 * makes every directory and writes every file; appends are shell builtins, plus a chmod for a file that
 * already existed.
 */

export type FileOp =
  /** Writes (or appends) `content` at absolute `path`, creating parents, then sets `mode` (octal). */
  | { kind: "write" | "append"; path: string; mode: string; content: string | Uint8Array }
  /** Creates directory `path` (and parents) with `mode`. */
  | { kind: "mkdir"; path: string; mode: string };

/** What one command of the batch does: extract directories and files, or append to one file. */
type Step =
  | { kind: "tar"; entries: ArchiveEntry[] }
  | { kind: "append"; path: string; mode: string; content: string | Uint8Array };

/**
 * The host's GNU tar, at the same path inside the box (its /bin and /usr are the host's, read-only).
 * -P: names are absolute in the box's own root; --overwrite --dereference: an existing file is rewritten
 * in place and a symlink followed, as a shell's `>` does; -p --no-same-owner --touch: exactly the given
 * mode, owned by the box's root, written now; --keep-directory-symlink: a symlink to a directory stays.
 * Missing parents are made 755, as `mkdir -p` makes them.
 */
const TAR_EXTRACT =
  "/bin/tar -x -P -p --overwrite --dereference --keep-directory-symlink --no-same-owner --touch -f -";

/**
 * Run before the tar that makes directory "$1" with mode "$2", so that it ends as `install -d` would:
 * tar would replace a file in the way (install refuses it) and leaves a symlink's directory's mode as it
 * is (install sets it).
 */
const DIRECTORY_FUNCTION = `directory() {
  if { [ -e "$1" ] || [ -L "$1" ]; } && [ ! -d "$1" ]; then
    echo "cannot create directory $1: File exists" >&2
    return 1
  fi
  if [ -L "$1" ]; then chmod "$2" -- "$1"; fi
}`;

/**
 * Appends arrive as an argument (printf, a builtin) or, when binary or large, on stdin (head -c).
 * A new file whose mode creation can give (no execute or special bits) is created under that umask,
 * in a subshell (a fork, not a new program); any other gets its mode from chmod ("-" as umask).
 */
const APPEND_FUNCTIONS = `content() { if [ "$#" -gt 4 ]; then printf %s "$5"; else head -c "$4"; fi; }
append() {
  dir=\${1%/*}
  [ -d "\${dir:-/}" ] || mkdir -p -- "\${dir:-/}"
  if [ "$3" != - ] && [ ! -e "$1" ] && [ ! -L "$1" ]; then
    (umask "$3" && content "$@" >>"$1")
  else
    content "$@" >>"$1"
    chmod "$2" -- "$1"
  fi
}`;

/** The largest append passed as an argument (the kernel caps one argument at 128 KiB). */
const APPEND_ARG_MAX_BYTES = 64 * 1024;

/** Order in which a batch runs when no reordered pair of entries touches related paths. */
const RANK: Record<FileOp["kind"], number> = { mkdir: 0, write: 1, append: 2 };

/**
 * Applies `ops` inside the box, with the effect of applying them in order. The first failing command stops
 * the batch and is thrown; within one tar, the files after a failed one are still written.
 */
export async function applyFileOps(sandbox: Sandbox, ops: FileOp[]): Promise<void> {
  for (const op of ops) validate(op);
  const steps = planSteps(ops);
  const [only] = steps;
  if (steps.length === 1 && only?.kind === "tar" && only.entries.every((entry) => entry.content !== null)) {
    const archive = ustarArchive(only.entries);
    await sandbox.runOrThrow("cannot apply file changes", TAR_EXTRACT.split(" "), archive);
    return;
  }
  const { script, args, stdin } = batchScript(steps);
  await sandbox.runScriptOrThrow("cannot apply file changes", script, args, Buffer.concat(stdin));
}

function validate(op: FileOp): void {
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
}

/**
 * Directories first, then every file in one tar, then the appends: the fewest commands. When that would
 * move an entry past another on the same path or one above or below it, the batch keeps its own order.
 */
function planSteps(ops: FileOp[]): Step[] {
  const grouped = ops.toSorted((a, b) => RANK[a.kind] - RANK[b.kind]);
  const reorderIsSafe = ops.every((earlier, index) =>
    ops
      .slice(index + 1)
      .every((later) => RANK[earlier.kind] <= RANK[later.kind] || !related(earlier.path, later.path)),
  );
  const steps: Step[] = [];
  for (const op of reorderIsSafe ? grouped : ops) {
    if (op.kind === "append") {
      steps.push({ kind: "append", path: op.path, mode: op.mode, content: op.content });
      continue;
    }
    const content = op.kind === "mkdir" ? null : toBytes(op.content);
    const entry = { path: op.path, mode: Number.parseInt(op.mode, 8), content };
    const last = steps.at(-1);
    // A directory's check runs before its tar, so it must not come after a file the same tar writes.
    if (last?.kind === "tar" && (content !== null || last.entries.every((made) => made.content === null))) {
      last.entries.push(entry);
    } else {
      steps.push({ kind: "tar", entries: [entry] });
    }
  }
  return steps;
}

/** The same path, or one is a directory above the other. */
function related(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * A script running `steps` in order. Paths and texts travel as arguments (the script names them as
 * "${N}"), file contents on stdin in step order; each stdin reader takes its own byte count, except the
 * last, which reads to the end.
 */
function batchScript(steps: Step[]): { script: string; args: string[]; stdin: Uint8Array[] } {
  const args: string[] = [];
  const stdin: Uint8Array[] = [];
  const arg = (value: string) => `"\${${args.push(value)}}"`;
  const lastReader = steps.findLastIndex(readsStdin);
  const lines = ["set -e"];
  if (steps.some((step) => step.kind === "append")) lines.push(APPEND_FUNCTIONS);
  if (steps.some((step) => step.kind === "tar" && step.entries.some((entry) => entry.content === null))) {
    lines.push(DIRECTORY_FUNCTION);
  }
  steps.forEach((step, index) => {
    if (step.kind === "tar") {
      for (const { path, mode, content } of step.entries) {
        if (content === null) lines.push(`directory ${arg(path)} ${mode.toString(8)}`);
      }
      const archive = ustarArchive(step.entries);
      stdin.push(archive);
      lines.push(index === lastReader ? TAR_EXTRACT : `head -c ${archive.byteLength} | ${TAR_EXTRACT}`);
    } else {
      const { path, mode, content } = step;
      const head = `append ${arg(path)} ${mode} ${creationUmask(mode)}`;
      if (typeof content === "string" && !readsStdin(step)) {
        lines.push(`${head} - ${arg(content)}`);
      } else {
        const bytes = toBytes(content);
        stdin.push(bytes);
        lines.push(`${head} ${bytes.byteLength}`);
      }
    }
  });
  return { script: lines.join("\n"), args, stdin };
}

/** Tar reads its archive from stdin; an append too, unless its text can be an argument (no NUL, which ends one). */
function readsStdin(step: Step): boolean {
  if (step.kind !== "append") return step.kind === "tar";
  const { content } = step;
  return (
    typeof content !== "string" || content.includes("\0") || Buffer.byteLength(content) > APPEND_ARG_MAX_BYTES
  );
}

/** The umask under which creating a file gives it `mode` (octal), or "-" when only chmod can. */
function creationUmask(mode: string): string {
  const bits = Number.parseInt(mode, 8);
  return (bits & 0o7111) === 0 ? (0o777 & ~bits).toString(8).padStart(3, "0") : "-";
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
  const output = await sandbox.runScriptOrThrow(`cannot read ${paths.join(", ")}`, script, paths);
  return output.split("\0").slice(0, paths.length);
}

function toBytes(content: string | Uint8Array): Uint8Array {
  return typeof content === "string" ? Buffer.from(content, "utf8") : content;
}
