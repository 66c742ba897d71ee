import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  createHetznerClient,
  type HetznerApiError,
  HetznerError,
  HetznerTimeoutError,
  isHetznerError,
  RateLimitBudget,
} from "../../hetzner/index.ts";
import { type Harness, serverInput, startHarness } from "./harness.ts";

const token = "tok-7f3c9a1e-super-secret";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ sim: { token } });
});
afterAll(async () => {
  await h.sim.stop();
});

/** Resolves once `condition` holds, polling every 5 ms; fails after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

describe("retry policy against the simulator", () => {
  test.each([
    [403, "forbidden"],
    [403, "resource_limit_exceeded"],
    [409, "uniqueness_error"],
    [423, "protected"],
    [422, "invalid_input"],
  ])("%i %s is permanent: one request, surfaced as HetznerApiError", async (status, code) => {
    h.sim.clearRequests();
    h.sim.faults.add({ kind: "error", method: "GET", path: "/servers/{id}", status, code });
    const err = await h.client.servers.get(1).catch((e: unknown) => e);
    expect(isHetznerError(err, code)).toBe(true);
    expect((err as HetznerApiError).status).toBe(status);
    expect((err as HetznerApiError).retryable).toBe(false);
    expect(h.served("GET", "/servers/{id}")).toBe(1);
  });

  test.each([
    [503, "unavailable"],
    [429, "rate_limit_exceeded"],
    [409, "conflict"],
    [423, "locked"],
    [500, "server_error"],
    [504, "timeout"],
  ])("%i %s is transient: retried until it succeeds", async (status, code) => {
    h.sim.clearRequests();
    h.sim.faults.add({ kind: "error", method: "GET", path: "/servers/{id}", status, code, times: 2 });
    expect(await h.client.servers.get(987_654)).toBeNull();
    expect(h.served("GET", "/servers/{id}")).toBe(3);
  });

  test("a transient error that persists fails after the configured attempts", async () => {
    h.sim.clearRequests();
    const fault = h.sim.faults.add({
      kind: "error",
      method: "GET",
      path: "/servers/{id}",
      status: 503,
      code: "unavailable",
      times: Number.POSITIVE_INFINITY,
    });
    const err = await h.client.servers.get(1).catch((e: unknown) => e);
    h.sim.faults.remove(fault);
    expect(isHetznerError(err, "unavailable")).toBe(true);
    expect(h.served("GET", "/servers/{id}")).toBe(5);
    expect(h.logs.some((l) => l.level === "warn" && l.message === "hetzner request retried")).toBe(true);
  });

  test("a dropped connection is a network error and is retried", async () => {
    h.sim.clearRequests();
    h.sim.faults.add({ kind: "drop", method: "GET", path: "/ssh_keys/{id}" });
    expect(await h.client.sshKeys.get(424_242)).toBeNull();
    expect(h.served("GET", "/ssh_keys/{id}")).toBeGreaterThanOrEqual(1);
  });

  test("aborting during a backoff delay settles the call at once with the signal's reason", async () => {
    const slowRetries = createHetznerClient({
      endpoint: h.sim.endpoint,
      token,
      budget: new RateLimitBudget(),
      retry: { attempts: 5, startingDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    const fault = h.sim.faults.add({
      kind: "error",
      status: 503,
      code: "unavailable",
      times: Number.POSITIVE_INFINITY,
    });
    h.sim.clearRequests();
    const controller = new AbortController();
    const call = slowRetries.servers.get(1, { signal: controller.signal }).catch((e: unknown) => e);
    await until(() => h.sim.requests().length >= 1);
    controller.abort(new Error("operator cancelled"));
    const err = await call;
    h.sim.faults.remove(fault);
    expect((err as Error).message).toBe("operator cancelled");
  });

  test("a wrong token is unauthorized, not retried, and the token never shows in errors or logs", async () => {
    const wrong = "tok-wrong-0a9b8c7d6e";
    const logged: string[] = [];
    const client = createHetznerClient({
      endpoint: h.sim.endpoint,
      token: wrong,
      budget: new RateLimitBudget(),
      retry: { startingDelayMs: 1 },
      log: {
        debug: (fields, message) => logged.push(JSON.stringify({ fields, message })),
        warn: (fields, message) => logged.push(JSON.stringify({ fields, message })),
      },
    });
    h.sim.clearRequests();
    const err = await client.servers.create(serverInput("never")).catch((e: unknown) => e);
    expect(isHetznerError(err, "unauthorized")).toBe(true);
    expect(h.served("POST", "/servers")).toBe(1);
    const everything = [String(err), (err as Error).stack ?? "", JSON.stringify(err), ...logged].join("\n");
    expect(logged.length).toBeGreaterThan(0);
    expect(everything).not.toContain(wrong);
  });

  test("the right token appears in no log line of a normal session", async () => {
    await h.client.servers.listAll({ labelSelector: "none=here" });
    await h.client.sshKeys.get(1);
    const text = h.logs.map((l) => JSON.stringify(l)).join("\n");
    expect(h.logs.length).toBeGreaterThan(0);
    expect(text).not.toContain(token);
  });
});

describe("timeouts and aborts against a server that never answers", () => {
  const held: (() => void)[] = [];
  let arrived = 0;
  let silent: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    silent = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        arrived += 1;
        return new Promise<Response>((resolve) =>
          held.push(() => resolve(new Response(null, { status: 204 }))),
        );
      },
    });
  });
  afterAll(async () => {
    for (const release of held) release();
    await silent.stop(true);
  });
  const client = (requestTimeoutMs: number, attempts: number) =>
    createHetznerClient({
      endpoint: `http://127.0.0.1:${silent.port}/v1`,
      token,
      budget: new RateLimitBudget(),
      requestTimeoutMs,
      retry: { attempts, startingDelayMs: 1, maxDelayMs: 1 },
    });

  test("each attempt times out after requestTimeoutMs and the timeout is retried", async () => {
    arrived = 0;
    const started = performance.now();
    const err = await client(100, 2)
      .servers.get(1)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HetznerTimeoutError);
    expect(err).toBeInstanceOf(HetznerError);
    expect((err as HetznerTimeoutError).code).toBe("request_timeout");
    expect(arrived).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(180);
    expect(String(err)).not.toContain(token);
  });

  test("an AbortSignal aborts a pending call", async () => {
    arrived = 0;
    const controller = new AbortController();
    const call = client(30_000, 5)
      .servers.get(1, { signal: controller.signal })
      .catch((e: unknown) => e);
    await until(() => arrived === 1);
    const reason = new Error("shutdown");
    controller.abort(reason);
    expect(await call).toBe(reason);
    expect(arrived).toBe(1);
  });
});

describe("a server that answers outside the contract", () => {
  let served = 0;
  let answer: () => Response = () => new Response(null, { status: 204 });
  let odd: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    odd = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        served += 1;
        return answer();
      },
    });
  });
  afterAll(async () => {
    await odd.stop(true);
  });
  const client = () =>
    createHetznerClient({
      endpoint: `http://127.0.0.1:${odd.port}/v1`,
      token,
      budget: new RateLimitBudget(),
      retry: { attempts: 3, startingDelayMs: 1, maxDelayMs: 1 },
    });

  test("a body that does not match the schema is invalid_response, not retried", async () => {
    served = 0;
    answer = () => Response.json({ server: { id: "not-a-number" } });
    const err = await client()
      .servers.get(1)
      .catch((e: unknown) => e);
    expect(isHetznerError(err, "invalid_response")).toBe(true);
    expect((err as Error).message).toContain("server.id");
    expect(served).toBe(1);
  });

  test("a gateway error without Hetzner's envelope is retried and keeps its status", async () => {
    served = 0;
    answer = () => new Response("<html>bad gateway</html>", { status: 502 });
    const err = await client()
      .servers.get(1)
      .catch((e: unknown) => e);
    expect(isHetznerError(err, "http_502")).toBe(true);
    expect((err as HetznerApiError).status).toBe(502);
    expect(served).toBe(3);
  });
});
