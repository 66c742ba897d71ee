import type { Sandbox } from "./sandbox.ts";

/**
 * File operations on a machine's filesystem, performed by commands INSIDE its sandbox so that paths
 * resolve against the box's root and symlinks planted by the box can never redirect a write to the host.
 */

const WRITE_SCRIPT =
  'mkdir -p "$(dirname "$1")" && if [ "$3" = append ]; then cat >> "$1"; else cat > "$1"; fi && chmod "$2" "$1"';

/** Writes (or appends) `content` at absolute `path` inside the box, creating parent directories. */
export async function writeInside(
  sandbox: Sandbox,
  path: string,
  content: string | Uint8Array,
  options: { mode?: string; append?: boolean } = {},
): Promise<void> {
  const argv = [
    "/bin/sh",
    "-c",
    WRITE_SCRIPT,
    "write",
    path,
    options.mode ?? "644",
    options.append ? "append" : "replace",
  ];
  await sandbox.runOrThrow(`cannot write ${path}`, argv, content);
}

/** Reads an absolute `path` inside the box. */
export function readInside(sandbox: Sandbox, path: string): Promise<string> {
  return sandbox.runOrThrow(`cannot read ${path}`, ["cat", "--", path]);
}

/** Creates a directory (and its parents) inside the box with `mode`. */
export async function makeDirInside(sandbox: Sandbox, path: string, mode: string): Promise<void> {
  await sandbox.runOrThrow(`cannot create ${path}`, ["install", "-d", "-m", mode, "--", path]);
}
