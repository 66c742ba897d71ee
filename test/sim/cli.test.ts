import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");

/** Reads stdout until the first full line arrives. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text.split("\n")[0] ?? "";
}

describe("bun run sim", () => {
  test("prints the endpoint first, serves it, and exits 0 on SIGTERM", async () => {
    const child = Bun.spawn(
      ["bun", "run", "sim", "--port", "0", "--token", "cli-token", "--time-scale", "0.001"],
      {
        cwd: root,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    try {
      const endpoint = await firstLine(child.stdout);
      expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const reply = await fetch(`${endpoint}/locations`, { headers: { Authorization: "Bearer cli-token" } });
      expect(reply.status).toBe(200);
      expect((await fetch(`${endpoint}/locations`)).status).toBe(401);
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test.each([
    [["--port", "http"], "--port"],
    [["--time-scale", "-1"], "--time-scale"],
    [["--ssh-port", "70000"], "--ssh-port"],
    [["--colour"], "--colour"],
  ])("bad flags %p exit 2 naming %s", async (args, flag) => {
    const child = Bun.spawn(["bun", "sim/main.ts", ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
    expect(await child.exited).toBe(2);
    expect(await new Response(child.stderr).text()).toContain(flag);
  });
});
