import { describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");

/** Collects a child's stdout; `firstLine` resolves as soon as one full line has arrived. */
function collect(stream: ReadableStream<Uint8Array>) {
  let resolveLine: (line: string) => void = () => {};
  const firstLine = new Promise<string>((resolve) => {
    resolveLine = resolve;
  });
  const all = (async () => {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("\n")) resolveLine(text.slice(0, text.indexOf("\n")));
    }
    resolveLine(text);
    return text;
  })();
  return { firstLine, all };
}

describe("bun run sim", () => {
  test("prints the endpoint first, serves it, and on SIGTERM exits 0 leaving no temp files", async () => {
    // A private TMPDIR shows whether the simulator removed its machine data directory on the way out.
    const scratch = await mkdtemp(join(tmpdir(), "sim-cli-"));
    const child = Bun.spawn(
      ["bun", "run", "sim", "--port", "0", "--token", "cli-token", "--time-scale", "0.001"],
      { cwd: root, env: { ...process.env, TMPDIR: scratch }, stdout: "pipe", stderr: "pipe" },
    );
    try {
      const stdout = collect(child.stdout);
      const endpoint = await stdout.firstLine;
      expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const reply = await fetch(`${endpoint}/locations`, { headers: { Authorization: "Bearer cli-token" } });
      expect(reply.status).toBe(200);
      expect((await fetch(`${endpoint}/locations`)).status).toBe(401);
      // A live server makes SIGTERM tear down a real machine (SSH listener and sandbox) too.
      const created = await fetch(`${endpoint}/servers`, {
        method: "POST",
        headers: { Authorization: "Bearer cli-token" },
        body: JSON.stringify({ name: "cli-server", server_type: "cx23", image: "ubuntu-24.04" }),
      });
      expect(created.status).toBe(201);
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
      // `bun run` forwards the signal to the simulator; stdout ends only once the simulator itself exits.
      expect(await stdout.all).toContain("stopping the simulator");
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
      await rm(scratch, { recursive: true, force: true });
    }
  });

  test.each([
    [["--port", "http"], "--port"],
    [["--time-scale", "-1"], "--time-scale"],
    [["--ssh-port", "70000"], "--ssh-port"],
    [["--colour"], "--colour"],
    [["--machines", "vm"], "--machines"],
  ])("bad flags %p exit 2 naming %s", async (args, flag) => {
    const child = Bun.spawn(["bun", "sim/main.ts", ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
    expect(await child.exited).toBe(2);
    expect(await new Response(child.stderr).text()).toContain(flag);
  });
});
