/**
 * A local git repository of a stand-in app, made from the simulator's Rachel8 template plus two local
 * packages, one a production dependency and one a devDependency (so a test can see --production at work),
 * locked with bun.lock as the real app is.
 */
import { cp, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runTool } from "../../bundle/command.ts";

const TEMPLATE = resolve(import.meta.dir, "./stand-in-app/rachel8");

export interface AppRepo {
  dir: string;
  url: string;
  /** Commits a change to src/index.ts and returns the new commit id. */
  commitChange(line: string): Promise<string>;
  head(): Promise<string>;
}

async function run(argv: string[], cwd: string): Promise<string> {
  return (await runTool({ argv, cwd }, "app_checkout_failed")).trim();
}

const git = (cwd: string, ...args: string[]) =>
  run(["git", "-c", "user.name=test", "-c", "user.email=test@example.test", ...args], cwd);

async function localPackage(dir: string, name: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Bun.write(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", main: "index.js" }));
  await Bun.write(join(dir, "index.js"), `module.exports = ${JSON.stringify(name)};\n`);
}

/** Creates the repository in `dir` with one commit on branch main. */
export async function createAppRepo(dir: string, withLockfile = true): Promise<AppRepo> {
  await cp(TEMPLATE, dir, { recursive: true });
  await localPackage(join(dir, "vendor/greeting"), "greeting");
  await localPackage(join(dir, "vendor/devtool"), "devtool");
  const manifest = await Bun.file(join(dir, "package.json")).json();
  await Bun.write(
    join(dir, "package.json"),
    JSON.stringify(
      {
        ...manifest,
        dependencies: { greeting: "file:./vendor/greeting" },
        devDependencies: { devtool: "file:./vendor/devtool" },
      },
      null,
      2,
    ),
  );
  if (withLockfile) await run([process.execPath, "install", "--save-text-lockfile"], dir);
  await Bun.write(join(dir, ".gitignore"), "node_modules/\n");
  await git(dir, "init", "--quiet", "--initial-branch=main");
  await git(dir, "add", "--all");
  await git(dir, "commit", "--quiet", "-m", "stand-in app");
  const head = () => git(dir, "rev-parse", "HEAD");
  return {
    dir,
    url: `file://${dir}`,
    head,
    async commitChange(line) {
      const index = join(dir, "src/index.ts");
      await Bun.write(index, `${await Bun.file(index).text()}${line}\n`);
      await git(dir, "commit", "--quiet", "--all", "-m", line);
      return head();
    },
  };
}
