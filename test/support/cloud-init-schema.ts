/**
 * Runs the real cloud-init on generated user-data: `cloud-init schema --config-file F`, and cloud-init's
 * own YAML loader. Prefers cloud-init 25.1 unpacked from Debian 13 (it rejects unknown keys; Debian 12's
 * 22.4 does not), else the one installed as a Debian package.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "./run-command.ts";

/** Where .ci/run unpacks Debian 13's cloud-init package (dpkg-deb -x). */
export const UNPACKED_CLOUD_INIT_ROOT = "/opt/cloud-init-trixie";

/** Debian's interpreter: the python3 first on PATH may be a pyenv shim without Debian's modules. */
const SYSTEM_PYTHON = "/usr/bin/python3";

export const CLOUD_INIT_INSTALL_HINT =
  "cloud-init not found: install Debian 13's cloud-init into /opt/cloud-init-trixie as .ci/run does, " +
  "or `apt-get install -y --no-install-recommends cloud-init`";

/** A runnable cloud-init: Debian's python with the package's modules on its path. */
export interface CloudInit {
  /** e.g. "25.1.4". */
  version: string;
  /** Extra environment for the interpreter (PYTHONPATH for the unpacked package). */
  env: Record<string, string>;
}

/** What `cloud-init schema` said about one document. */
export interface SchemaReport {
  /** 0 valid, 1 invalid. */
  exitCode: number;
  /** stdout and stderr together. */
  output: string;
  /** Deprecated keys are still exit 0; a document the service ships should have none. */
  hasDeprecations: boolean;
}

function pythonSync(code: string, env: Record<string, string>): { exitCode: number; stdout: string } {
  const run = Bun.spawnSync([SYSTEM_PYTHON, "-c", code], { env: { ...process.env, ...env } });
  return { exitCode: run.exitCode, stdout: run.stdout.toString().trim() };
}

/** The cloud-init to use, or null when neither the unpacked nor the installed package works. */
export function findCloudInit(unpackedRoot: string = UNPACKED_CLOUD_INIT_ROOT): CloudInit | null {
  if (!existsSync(SYSTEM_PYTHON)) return null;
  const unpackedModules = join(unpackedRoot, "usr/lib/python3/dist-packages");
  const candidates: Record<string, string>[] = existsSync(unpackedModules)
    ? [{ PYTHONPATH: unpackedModules }, {}]
    : [{}];
  for (const env of candidates) {
    const probe = pythonSync("from cloudinit import version; print(version.version_string())", env);
    if (probe.exitCode === 0 && probe.stdout) return { version: probe.stdout, env };
  }
  return null;
}

function runPython(cloudInit: CloudInit, args: string[], cwd: string) {
  return runCommand([SYSTEM_PYTHON, ...args], { cwd, env: { ...process.env, ...cloudInit.env } });
}

/** Writes `userData` to a temp file, hands it to `use`, and removes the directory afterwards. */
async function withUserDataFile<T>(userData: string, use: (path: string, dir: string) => Promise<T>) {
  const dir = mkdtempSync(join(tmpdir(), "cloud-init-schema-"));
  try {
    const path = join(dir, "user-data.yaml");
    writeFileSync(path, userData);
    return await use(path, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `cloud-init schema --config-file F` on `userData`. */
export function checkSchema(cloudInit: CloudInit, userData: string): Promise<SchemaReport> {
  return withUserDataFile(userData, async (path, dir) => {
    const run = await runPython(
      cloudInit,
      ["-m", "cloudinit.cmd.main", "schema", "--config-file", path],
      dir,
    );
    const output = `${run.stdout}${run.stderr}`;
    return { exitCode: run.exitCode, output, hasDeprecations: /deprecat/i.test(output) };
  });
}

/** Runs `code` (Python) with the user-data file's path as sys.argv[1] and returns its stdout. */
function pythonOnUserData(cloudInit: CloudInit, userData: string, code: string): Promise<string> {
  return withUserDataFile(userData, async (path, dir) => {
    const run = await runPython(cloudInit, ["-c", code, path], dir);
    if (run.exitCode !== 0) throw new Error(`cloud-init's python code failed: ${run.stderr}`);
    return run.stdout;
  });
}

const LOAD_USER_DATA =
  "import json, sys\nfrom cloudinit import util\n" +
  "config = util.load_yaml(open(sys.argv[1], encoding='utf-8').read())\n";

/** The document as cloud-init reads it (cloudinit.util.load_yaml, i.e. PyYAML safe_load), via JSON. */
export async function loadAsCloudInit(cloudInit: CloudInit, userData: string): Promise<unknown> {
  return JSON.parse(
    await pythonOnUserData(cloudInit, userData, `${LOAD_USER_DATA}print(json.dumps(config))`),
  );
}

/** The /bin/sh script cloud-init's runcmd module writes for the document (cloudinit.util.shellify). */
export function runcmdScript(cloudInit: CloudInit, userData: string): Promise<string> {
  return pythonOnUserData(
    cloudInit,
    userData,
    `${LOAD_USER_DATA}print(util.shellify(config['runcmd']), end='')`,
  );
}
