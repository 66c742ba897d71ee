import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Route } from "../../api/router.ts";
import { routes } from "../../api/routes/index.ts";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { loadConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import type { JobQueue } from "../../queue/queue.ts";
import { rawHttp } from "../support/raw-http.ts";

const dataDir = mkdtempSync(join(tmpdir(), "api-raw-"));
const logLines: Record<string, unknown>[] = [];
const log = createLogger({
  level: "debug",
  destination: { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) },
});
const config = loadConfig({
  DATA_DIR: dataDir,
  BROKER_TOKEN: "broker-token-never-shown",
  SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
  HCLOUD_TOKEN: "hcloud-token",
  OPS_TOKEN: "o".repeat(32),
});
const unused = () => Promise.reject(new Error("not used by these requests"));
const queue: JobQueue = {
  enqueue: unused,
  signal: unused,
  retry: unused,
  ping: async () => true,
  close: async () => {},
};
/** A bug past the route's error mapping: a handler that answers something that is not a Response. */
const bugRoute: Route = {
  method: "GET",
  path: "/bug",
  handle: () => ({ secret: "source line 42 of /srv/api" }) as unknown as Response,
};

let db: Db;
let api: ApiServer;
let port: number;
let publicPort: number;
beforeAll(() => {
  db = openDatabase(join(dataDir, "app.sqlite"));
  migrateDatabase(db);
  api = createApiServer({
    config,
    db,
    queue,
    log,
    metrics: createMetrics(),
    routes: { public: routes.public, private: [...routes.private, bugRoute] },
    port: 0,
    publicPort: 0,
  });
  port = Number(new URL(api.url).port);
  publicPort = Number(new URL(api.publicUrl).port);
});
afterAll(async () => {
  await api.stop(100);
  db.$client.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const send = (head: string, to = port) => rawHttp("127.0.0.1", to, `${head}\r\n\r\n`);

describe("requests fetch would never send", () => {
  const hosts = ["a b", "[::1", "a:99999", "a/b?c", "", "exa mple.com:80", "ü.example", "%zz"];

  test.each(hosts)("Host %p: the route answers as it would with a good Host, in JSON", async (host) => {
    const healthz = await send(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close`);
    expect(healthz.status).toBe(200);
    expect(JSON.parse(healthz.body)).toEqual({ status: "ok" });
    const ops = await send(`GET /v1/ops/instances?limit=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close`);
    expect(ops.status).toBe(401);
    expect(ops.headers.get("content-type")).toStartWith("application/json");
    const bundle = await send(
      `GET /v1/instances/i1/bundles/b1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close`,
      publicPort,
    );
    expect(bundle.status).toBe(404);
    expect(JSON.parse(bundle.body)).toMatchObject({ code: "not_found" });
  });

  test("HTTP/1.0 without Host: routed by path, query read, JSON answers", async () => {
    expect((await send("GET /healthz HTTP/1.0")).status).toBe(200);
    const callback = await send(
      "POST /v1/cloud-init/no-such-instance/ready?token=x HTTP/1.0\r\nContent-Length: 0",
      publicPort,
    );
    expect(callback.status).toBe(403);
    expect(JSON.parse(callback.body)).toMatchObject({ requestId: expect.any(String) });
    const missing = await send("GET /nope HTTP/1.0");
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ code: "not_found" });
  });

  test("an absolute-form target or a doubled slash is routed by its path", async () => {
    expect(
      (await send("GET http://elsewhere.example/healthz HTTP/1.1\r\nHost: x\r\nConnection: close")).status,
    ).toBe(200);
    expect((await send("GET //healthz HTTP/1.1\r\nHost: x\r\nConnection: close")).status).toBe(200);
  });

  test("a true bug is an opaque JSON 500 (no development page), its cause logged", async () => {
    const answer = await send("GET /bug HTTP/1.1\r\nHost: x\r\nConnection: close");
    expect(answer.status).toBe(500);
    expect(answer.headers.get("content-type")).toStartWith("application/json");
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    expect(body).toEqual({
      code: "internal",
      message: "internal server error",
      requestId: expect.any(String),
    });
    expect(answer.raw).not.toContain("source line 42");
    expect(answer.raw).not.toContain(process.cwd());
    const logged = logLines.find((line) => line.requestId === body.requestId);
    expect(logged).toMatchObject({ level: 50, msg: "unhandled error in server" });
    expect(JSON.stringify(logged)).toContain("headers");
  });
});
