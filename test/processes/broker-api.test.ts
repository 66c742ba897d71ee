import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pollUntil } from "../../core/wait.ts";
import { createTestStack, type TestStack } from "../../harness/support/processes.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
  await stack.start("broker");
  await stack.start("api");
}, 60_000);
afterAll(() => stack.dispose());

const readyzStatus = async () => (await fetch(`${stack.apiUrl}/readyz`)).status;

describe("broker process", () => {
  test("keeps its queue in DATA_DIR and requires the token for its admin API", async () => {
    expect(existsSync(join(stack.dataDir, "queue.sqlite"))).toBe(true);
    expect((await fetch(`${stack.brokerHttpUrl}/metrics`)).status).toBe(401);
    const withToken = await fetch(`${stack.brokerHttpUrl}/metrics`, {
      headers: { authorization: `Bearer ${stack.env.BROKER_TOKEN}` },
    });
    expect(withToken.status).toBe(200);
  });

  test("never logs its token", () => {
    const token = stack.env.BROKER_TOKEN ?? "";
    expect(token.length).toBeGreaterThan(10);
    expect(stack.logs("broker").some((line) => line.text.includes(token))).toBe(false);
  });

  test("a second broker on the same ports exits 1 saying it could not bind", async () => {
    const second = stack.spawn("broker");
    expect(await second.exited).toBe(1);
    const fatal = stack.logs("broker").find((line) => line.json?.level === 60);
    expect(String(fatal?.json?.msg)).toBe(
      `broker could not start: cannot listen on 127.0.0.1:${stack.env.BROKER_PORT} (in use?)`,
    );
  }, 30_000);
});

describe("api process", () => {
  test("/readyz is 503 naming the broker while it is down, 200 once it is back", async () => {
    expect(await readyzStatus()).toBe(200);
    await stack.kill("broker");
    const down = await pollUntil(
      async () => {
        const response = await fetch(`${stack.apiUrl}/readyz`);
        return response.status === 503 && response;
      },
      { timeoutMs: 10_000, description: "/readyz = 503" },
    );
    expect(await down.json()).toMatchObject({ code: "not_ready", message: "broker is unreachable" });
    await stack.start("broker");
    await pollUntil(async () => (await readyzStatus()) === 200, {
      timeoutMs: 15_000,
      description: "/readyz = 200 after the broker restarted",
    });
  }, 60_000);

  test("SIGTERM twice: drains and exits 0", async () => {
    const api = stack.running("api");
    if (!api) throw new Error("api is not running");
    api.signal("SIGTERM");
    api.signal("SIGTERM");
    expect(await api.exited).toBe(0);
    expect(stack.logs("api").some((line) => line.json?.msg === "api stopped")).toBe(true);
  }, 30_000);
});

describe("broker shutdown", () => {
  test("SIGTERM twice: the broker stops its server cleanly and exits 0", async () => {
    const broker = stack.running("broker");
    if (!broker) throw new Error("broker is not running");
    broker.signal("SIGTERM");
    broker.signal("SIGTERM");
    expect(await broker.exited).toBe(0);
    expect(stack.logs("broker").some((line) => line.json?.msg === "Shutdown complete")).toBe(true);
  }, 30_000);

  test("SIGTERM while it is still starting: a clean stop, exit 0, not a failed start", async () => {
    const broker = stack.spawn("broker");
    // The server's first line comes after the launcher's signal handlers are in place, and before /ready.
    await stack.waitForLog(
      "broker",
      (line) => line.json?.pid === broker.pid && line.json?.server === "bunqueue",
    );
    broker.signal("SIGTERM");
    expect(await broker.exited).toBe(0);
    const lines = stack.logs("broker").filter((line) => line.json?.pid === broker.pid);
    expect(lines.some((line) => line.json?.msg === "broker stopped")).toBe(true);
    expect(lines.some((line) => line.json?.level === 60)).toBe(false);
  }, 30_000);
});
