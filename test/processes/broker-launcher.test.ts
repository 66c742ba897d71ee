/**
 * The broker launcher and the bunqueue server it starts live and die together: a launcher killed with
 * SIGKILL (no handler runs) takes its server down, so a restarted broker can bind its ports again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pollUntil } from "../../cli/wait.ts";
import { createTestStack, type TestStack } from "../support/processes.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
}, 60_000);
afterAll(() => stack.dispose());

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
