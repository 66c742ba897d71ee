/**
 * The broker launcher and the bunqueue server it starts live and die together: a launcher killed with
 * SIGKILL (no handler runs) takes its server down, so a restarted broker can bind its ports again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { pollUntil } from "../../core/wait.ts";
import { createTestStack, type TestStack } from "../../harness/support/processes.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
}, 60_000);
afterAll(() => stack.dispose());

/** Running: a zombie left for a reaper counts as dead, as does a pid with no /proc entry. */
function isAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // Field 3, after the parenthesised command name, is the state.
  const state = stat.split(") ")[1]?.[0];
  return state !== "Z" && state !== "X";
}

describe("broker launcher", () => {
  test("SIGKILL of the launcher alone kills its server; a restart binds the same ports", async () => {
    const launcher = await stack.start("broker");
    const ready = await stack.waitForLog("broker", (line) => line.json?.msg === "broker ready");
    const serverPid = Number(ready.json?.serverPid);
    expect(isAlive(serverPid)).toBe(true);

    // Only the launcher's pid, not its process group: the way an OOM killer or `kill -9 <pid>` hits it.
    process.kill(launcher.pid, "SIGKILL");
    await launcher.exited;
    await pollUntil(() => !isAlive(serverPid), {
      timeoutMs: 5_000,
      description: `bunqueue server ${serverPid} to die with its launcher`,
    });

    const restarted = await stack.start("broker");
    expect(restarted.exitCode()).toBeUndefined();
  }, 60_000);
});
