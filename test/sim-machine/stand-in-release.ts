import { expect } from "bun:test";
import type { ExecResult } from "./support.ts";

const STAND_IN_APP = new URL("../../sim/bundle/stand-in-app/", import.meta.url);

/**
 * Lays out a release of the stand-in bun, claude and app at /opt/rachel8/current, the CLI's link and the app
 * user's directories, as a boot from the bundle does (the unit runs the current release from ~/rachel8), over `run` as a sudoer.
 */
export async function installStandInRelease(
  run: (command: string, stdin?: string) => Promise<ExecResult>,
): Promise<void> {
  const release = "/opt/rachel8/releases/r";
  const place = async (path: string, source: string, mode: string) => {
    const content = await Bun.file(new URL(source, STAND_IN_APP)).text();
    const file = `${release}/${path}`;
    const result = await run(
      `sudo mkdir -p ${file.replace(/\/[^/]*$/, "")} && sudo tee ${file} >/dev/null && sudo chmod ${mode} ${file}`,
      content,
    );
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
  };
  await place("bin/bun", "bun", "755");
  await place("bin/claude", "claude", "755");
  await place("app/rachel8.sh", "rachel8/rachel8.sh", "755");
  await place("app/src/index.ts", "rachel8/src/index.ts", "644");
  const link = await run(
    `mkdir -p ~/rachel8 ~/shared && sudo ln -sfn ${release} /opt/rachel8/current && sudo ln -sfn /opt/rachel8/current/bin/claude /usr/local/bin/claude`,
  );
  expect(link).toEqual({ code: 0, stdout: "", stderr: "" });
}
