/**
 * Runs the first-boot scripts shipped in user-data for real, as root handing over to a freshly created
 * unprivileged user, against a local git repository. Bun is pre-placed in the user's ~/.bun (the script
 * keeps an installed Bun of the wanted version), and the packages named are already installed, so
 * nothing leaves the machine.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { FIRST_BOOT_FILES } from "../../jobs/provision/cloud-init/first-boot.ts";
import { runCommand } from "../support/run-command.ts";

async function run(argv: string[], cwd?: string) {
  const { exitCode, stdout, stderr } = await runCommand(argv, cwd === undefined ? {} : { cwd });
  return { exitCode, output: `${stdout}${stderr}` };
}

async function mustRun(argv: string[], cwd?: string): Promise<string> {
  const result = await run(argv, cwd);
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${result.exitCode}: ${result.output}`);
  return result.output;
}

/** A hard link is instant; across file systems fall back to a copy. */
function placeBinary(source: string, target: string): void {
  try {
    linkSync(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    copyFileSync(source, target);
  }
}

test("every first-boot script is valid bash", async () => {
  for (const file of FIRST_BOOT_FILES) {
    const dir = mkdtempSync(join(tmpdir(), "first-boot-syntax-"));
    try {
      const path = join(dir, basename(file.path));
      writeFileSync(path, file.content);
      expect(await run(["bash", "-n", path])).toEqual({ exitCode: 0, output: "" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn("skipping the first-boot run: it creates a user, so it needs root (CI runs as root)");

describe.skipIf(!isRoot)("prepare-host.sh as root on this machine", () => {
  const user = `fb-${randomBytes(4).toString("hex")}`;
  let root = "";
  const home = () => join(root, "home");
  const scripts = () => join(root, "scripts");
  const repo = () => join(root, "repo");
  const marker = () => join(root, "state", "setup-complete");
  const appVersion = () => JSON.parse(readFileSync(join(home(), "rachel8", "package.json"), "utf8")).version;

  async function commitRelease(tag: string): Promise<void> {
    const git = ["git", "-C", repo(), "-c", "user.name=test", "-c", "user.email=test@example.com"];
    writeFileSync(join(repo(), "package.json"), JSON.stringify({ name: "app", version: tag, private: true }));
    await mustRun([...git, "add", "package.json"]);
    await mustRun([...git, "commit", "-q", "-m", tag]);
    await mustRun([...git, "tag", tag]);
  }

  /** The argument order firstBootCommand uses; "bash" stands for the packages (installed already). */
  const prepareHost = (ref: string, forUser = user) =>
    run([
      "/bin/bash",
      join(scripts(), "prepare-host.sh"),
      forUser,
      `file://${repo()}`,
      ref,
      Bun.version,
      marker(),
      "bash",
    ]);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "first-boot-"));
    chmodSync(root, 0o755);
    await mustRun([
      "useradd",
      "--home-dir",
      home(),
      "--create-home",
      "--shell",
      "/bin/bash",
      "--user-group",
      user,
    ]);
    mkdirSync(scripts());
    for (const file of FIRST_BOOT_FILES) {
      writeFileSync(join(scripts(), basename(file.path)), file.content, {
        mode: Number.parseInt(file.permissions, 8),
      });
    }
    mkdirSync(join(home(), ".bun", "bin"), { recursive: true });
    placeBinary(process.execPath, join(home(), ".bun", "bin", "bun"));
    await mustRun(["chown", "-R", `${user}:${user}`, join(home(), ".bun")]);
    mkdirSync(repo());
    await mustRun(["git", "-c", "init.defaultBranch=main", "init", "-q", repo()]);
    await commitRelease("v1");
    await commitRelease("v2");
    // git refuses to read a repository owned by someone else, as the user's fetch would.
    await mustRun(["chown", "-R", `${user}:${user}`, repo()]);
  });

  afterAll(async () => {
    await run(["userdel", user]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("installs the app as the user, creates the shared folder and writes the marker", async () => {
    const result = await prepareHost("v1");
    // Printed by install-app.sh: it ran with the user's HOME and found the user's Bun.
    expect(result.output).toContain(`install-app: ${Bun.version} at ${home()}/rachel8, commit `);
    expect(result.output).toContain("prepare-host: done");
    expect(result.exitCode).toBe(0);
    expect(appVersion()).toBe("v1");
    const owner = Number(await mustRun(["id", "-u", user]));
    expect(statSync(join(home(), "shared")).uid).toBe(owner);
    expect(statSync(join(home(), "rachel8", "package.json")).uid).toBe(owner);
    expect(existsSync(marker())).toBe(true);
  });

  test("converges when run again, here onto a newer ref", async () => {
    const result = await prepareHost("v2");
    expect(result.output).toContain("prepare-host: done");
    expect(result.exitCode).toBe(0);
    expect(appVersion()).toBe("v2");
  });

  test("fails loudly, without the marker, when the user does not exist", async () => {
    rmSync(marker(), { force: true });
    const result = await prepareHost("v2", `${user}x`);
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain("does not exist");
    expect(existsSync(marker())).toBe(false);
  });
});
