import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpError } from "../../api/http-error.ts";
import type { Route } from "../../api/router.ts";
import { routes } from "../../api/routes/index.ts";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { loadConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { pollUntil } from "../../core/wait.ts";
import { type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import type { JobQueue } from "../../queue/queue.ts";

const dataDir = mkdtempSync(join(tmpdir(), "api-"));
const logLines: Record<string, unknown>[] = [];
const log = createLogger({
  level: "debug",
  destination: { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) },
});
const config = loadConfig({
  DATA_DIR: dataDir,
  API_PORT: "1",
  BROKER_TOKEN: "broker-token-never-shown",
  SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
  HCLOUD_TOKEN: "hcloud-token",
  SHUTDOWN_TIMEOUT_MS: "2000",
});

/** A queue whose broker reachability the test sets; the real client is exercised by test/processes. */
function queueReachable(reachable: () => boolean): JobQueue {
  const unused = () => Promise.reject(new Error("not used by these routes"));
  return {
    enqueue: unused,
    signal: unused,
    retry: unused,
    ping: async () => reachable(),
    close: async () => {},
  };
}

let brokerUp = true;
let slowEntered = false;
let slowRelease: () => void = () => {};
const extraRoutes: Route[] = [
  { method: "GET", path: "/boom", handle: () => Promise.reject(new Error("db password=hunter2 leaked")) },
  {
    method: "POST",
    path: "/broken-write",
    handle: async ({ deps }) => {
      deps.db.$client.run("INSERT INTO no_such_table VALUES (1)");
      return new Response(null, { status: 204 });
    },
  },
  {
    method: "POST",
    path: "/things/:thingId/notes/:note",
    handle: ({ params }) => {
      if (params.thingId === "missing") throw new HttpError(404, "thing_not_found", "no such thing");
      return Response.json(params);
    },
  },
  {
    method: "GET",
    path: "/slow",
    handle: () => {
      slowEntered = true;
      return new Promise<Response>((resolve) => {
        slowRelease = () => resolve(new Response("done"));
      });
    },
  },
];
const testRoutes = { public: routes.public, private: [...routes.private, ...extraRoutes] };

let db: Db;
let api: ApiServer;
beforeAll(() => {
  db = openDatabase(join(dataDir, "app.sqlite"));
  migrateDatabase(db);
  api = createApiServer({
    config,
    db,
    queue: queueReachable(() => brokerUp),
    log,
    metrics: createMetrics(),
    routes: testRoutes,
    port: 0,
    publicPort: 0,
  });
});
afterAll(async () => {
  await api.stop(100);
  db.$client.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const get = (path: string, init?: RequestInit) => fetch(`${api.url}${path}`, init);

describe("api server", () => {
  test("listens on loopback only", () => {
    expect(new URL(api.url).hostname).toBe("127.0.0.1");
  });

  test("the public listener serves only webhooks and callbacks: health, metrics, ops and customers are 404 there", async () => {
    for (const [method, path] of [
      ["GET", "/healthz"],
      ["GET", "/readyz"],
      ["GET", "/metrics"],
      ["GET", "/v1/ops/status"],
      ["PUT", "/v1/customers/cus_1"],
    ] as const) {
      const response = await fetch(`${api.publicUrl}${path}`, { method });
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect(await response.json()).toMatchObject({ code: "not_found" });
    }
    const webhook = await fetch(`${api.url}/v1/webhooks/stripe`, { method: "POST", body: "{}" });
    expect(webhook.status).toBe(404);
    expect(new URL(api.publicUrl).hostname).toBe("127.0.0.1");
  });

  test("/healthz answers 200 and echoes a caller's request id", async () => {
    const response = await get("/healthz", { headers: { "x-request-id": "req-123" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toBe("req-123");
    expect(await response.json()).toEqual({ status: "ok" });
  });

  test("an unacceptable request id is replaced by a fresh one", async () => {
    const response = await get("/healthz", { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("/readyz is 200 when migrated and the broker answers, 503 naming the reason otherwise", async () => {
    expect((await get("/readyz")).status).toBe(200);
    brokerUp = false;
    const down = await get("/readyz");
    brokerUp = true;
    expect(down.status).toBe(503);
    const body = (await down.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: "not_ready", message: "broker is unreachable" });
    expect(body.requestId).toBe(down.headers.get("x-request-id") ?? "");
  });

  test("/readyz reports an unmigrated database", async () => {
    const fresh = openDatabase(join(dataDir, "empty.sqlite"));
    const other = createApiServer({
      config,
      db: fresh,
      queue: queueReachable(() => false),
      log,
      metrics: createMetrics(),
      port: 0,
      publicPort: 0,
    });
    const notReady = await other.handle(new Request("http://local/readyz"));
    await other.stop(100);
    fresh.$client.close();
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({
      message: "database is not migrated; broker is unreachable",
    });
  });

  test("route templates bind decoded params; an HttpError keeps its status and code", async () => {
    const ok = await get("/things/a%20b/notes/n1", { method: "POST" });
    expect(await ok.json()).toEqual({ thingId: "a b", note: "n1" });
    const missing = await get("/things/missing/notes/n1", { method: "POST" });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "thing_not_found", message: "no such thing" });
  });

  test("unknown path is 404 and a wrong method 405 with Allow, both as error JSON", async () => {
    const notFound = await get("/nope");
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ code: "not_found" });
    const wrongMethod = await get("/healthz", { method: "DELETE" });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET");
    expect(await wrongMethod.json()).toMatchObject({ code: "method_not_allowed" });
  });

  test("a 500 never leaks the internal message, which is logged instead", async () => {
    const response = await get("/boom", { headers: { "x-request-id": "boom-1" } });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain("hunter2");
    expect(JSON.parse(text)).toEqual({
      code: "internal",
      message: "internal server error",
      requestId: "boom-1",
    });
    expect(
      logLines.some((line) => line.requestId === "boom-1" && JSON.stringify(line).includes("hunter2")),
    ).toBe(true);
  });

  test("a failing database write is a 503 the caller may retry, without the database's message", async () => {
    const response = await get("/broken-write", { method: "POST", headers: { "x-request-id": "db-1" } });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      code: "unavailable",
      message: "database unavailable; try again",
      requestId: "db-1",
    });
    expect(logLines.some((line) => line.requestId === "db-1" && line.msg === "database write failed")).toBe(
      true,
    );
  });

  test("one wide log line per request, labelled by route template", async () => {
    await get("/things/t9/notes/n2", { method: "POST", headers: { "x-request-id": "wide-1" } });
    const lines = logLines.filter((line) => line.requestId === "wide-1" && line.msg === "request");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      method: "POST",
      route: "/things/:thingId/notes/:note",
      path: "/things/t9/notes/n2",
      status: 200,
    });
  });

  test("/metrics counts requests by route template and status, never by raw path", async () => {
    await get("/things/x1/notes/y1", { method: "POST" });
    await get("/no/such/path/42");
    const response = await get("/metrics");
    expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
    const text = await response.text();
    expect(text).toContain(
      'http_requests_total{method="POST",route="/things/:thingId/notes/:note",status="200"}',
    );
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status="404"}');
    expect(text).not.toContain("x1");
    expect(text).toContain("http_request_duration_seconds_bucket");
    expect(text).toContain("# TYPE job_operations gauge");
  });
});

describe("api drain", () => {
  test("stop lets an in-flight request finish, refuses new connections, and is idempotent", async () => {
    const server = createApiServer({
      config,
      db,
      queue: queueReachable(() => true),
      log,
      metrics: createMetrics(),
      routes: testRoutes,
      port: 0,
      publicPort: 0,
    });
    const inFlight = fetch(`${server.url}/slow`);
    await pollUntil(() => slowEntered, { timeoutMs: 5000, description: "the slow route to start" });
    const stopped = Promise.all([server.stop(5000), server.stop(5000)]);
    setTimeout(() => slowRelease(), 50);
    const response = await inFlight;
    expect(await response.text()).toBe("done");
    await stopped;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});
