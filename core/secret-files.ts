/**
 * `<NAME>_FILE` variants: a secret may be given as a path to a file holding it (systemd credentials,
 * Docker/Kubernetes secrets), which keeps it out of the process environment.
 */
import { readFileSync } from "node:fs";

export interface SecretFiles {
  /** Values read from files, keyed by the plain variable name. */
  readonly values: Record<string, string>;
  /** Plain variable names whose file could not be used (already reported in `problems`). */
  readonly failed: readonly string[];
  /** `NAME: what is wrong` lines; never contain a file's content. */
  readonly problems: readonly string[];
}

/** Reads `<name>_FILE` for each name; a trailing newline in the file is dropped. */
export function readSecretFiles(
  env: Readonly<Record<string, string | undefined>>,
  names: readonly string[],
): SecretFiles {
  const values: Record<string, string> = {};
  const failed: string[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const fileVariable = `${name}_FILE`;
    const path = env[fileVariable];
    if (path === undefined || path === "") continue;
    if (env[name] !== undefined && env[name] !== "") {
      problems.push(`${name}, ${fileVariable}: set only one of them`);
      continue;
    }
    const content = readText(path);
    if (content === undefined || content === "") {
      failed.push(name);
      problems.push(`${fileVariable}: ${content === undefined ? "cannot read" : "empty file"} ${path}`);
    } else {
      values[name] = content;
    }
  }
  return { values, failed, problems };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch {
    // Any read failure (missing, permissions, a directory) means the same to the operator: fix the path.
    return undefined;
  }
}
