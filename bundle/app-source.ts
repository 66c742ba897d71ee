/**
 * The app's source at one commit: APP_REF (branch, tag or commit id) of APP_REPO_URL, resolved to the commit
 * id the bundle records, fetched shallow and exported without .git (so the tree alone decides the bytes).
 */
import { mkdir, rm } from "node:fs/promises";
import { runTool } from "./command.ts";
import { BundleError } from "./errors.ts";

const COMMIT_ID = /^[0-9a-f]{40}$/;

export interface CheckoutOptions {
  repoUrl: string;
  ref: string;
  /** Empty or missing directory the tree is written into. */
  destination: string;
  signal?: AbortSignal;
}

/** Writes the tree of `ref` into `destination` and returns its commit id; throws BundleError. */
export async function checkoutApp(options: CheckoutOptions): Promise<string> {
  const gitDir = `${options.destination}.git`;
  const git = (...args: string[]) =>
    runTool(
      {
        argv: ["git", `--git-dir=${gitDir}`, ...args],
        // Never wait on a credential prompt: a build runs unattended.
        env: { GIT_TERMINAL_PROMPT: "0" },
        signal: options.signal,
      },
      "app_checkout_failed",
    );
  await runTool({ argv: ["git", "init", "--quiet", "--bare", gitDir] }, "app_checkout_failed");
  try {
    await git("fetch", "--quiet", "--depth=1", options.repoUrl, options.ref);
    const commit = (await git("rev-parse", "--verify", "FETCH_HEAD^{commit}")).trim();
    if (!COMMIT_ID.test(commit) || (COMMIT_ID.test(options.ref) && commit !== options.ref)) {
      throw new BundleError(
        "app_checkout_failed",
        `${options.ref} resolved to ${commit}, not a commit it names`,
      );
    }
    await mkdir(options.destination, { recursive: true });
    await exportTree(gitDir, commit, options.destination);
    return commit;
  } finally {
    await rm(gitDir, { recursive: true, force: true });
  }
}

/** `git archive | tar -x`: the committed files only, with their modes, no .git. */
async function exportTree(gitDir: string, commit: string, destination: string): Promise<void> {
  const archive = Bun.spawn(["git", `--git-dir=${gitDir}`, "archive", "--format=tar", commit], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const extract = Bun.spawn(["tar", "-x", "-C", destination], { stdin: archive.stdout, stderr: "pipe" });
  const [archiveExit, extractExit, archiveErr, extractErr] = await Promise.all([
    archive.exited,
    extract.exited,
    new Response(archive.stderr).text(),
    new Response(extract.stderr).text(),
  ]);
  if (archiveExit !== 0 || extractExit !== 0) {
    throw new BundleError(
      "app_checkout_failed",
      `exporting ${commit} failed: ${archiveErr}${extractErr}`.trim(),
    );
  }
}
