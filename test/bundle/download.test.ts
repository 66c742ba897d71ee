import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { bundleStoreDir, createBundleStore } from "../../bundle/store.ts";
import { loadConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics, type MetricsRegistry } from "../../core/metrics.ts";
import { createSealer } from "../../core/secrets.ts";
import { instances } from "../../db/schema.ts";
import { bundleDownloadUrl, issueBundleGrant } from "../../domain/bundles/grants.ts";
import { openTestDatabase, type TestDatabase } from "../../harness/customers/fixtures.ts";
import type { JobQueue } from "../../queue/queue.ts";
import { runCommand } from "../support/run-command.ts";

const NOW = Date.now();
/** Big enough to span several socket writes, so Range and resuming are real. */
const archive = randomBytes(300_000);
const bundleId = createHash("sha256").update(archive).digest("hex");
const otherId = "c".repeat(64);

let t: TestDatabase;
let api: ApiServer;
let metrics: MetricsRegistry;
let token: string;
let logLines: string[];
/** The only peer whose X-Forwarded-For counts. */
const PROXY_IP = "127.0.0.9";

beforeAll(async () => {
  t = openTestDatabase();
  const config = loadConfig({
    DATA_DIR: t.dir,
    API_PORT: "1",
    BROKER_TOKEN: "broker-token",
    SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
    HCLOUD_TOKEN: "hcloud-token",
    TRUSTED_PROXIES: `${PROXY_IP}/32`,
  });
  t.sealer = createSealer(config.secretsKeys);
  const store = createBundleStore(bundleStoreDir(t.dir));
  for (const [id, bytes] of [
    [bundleId, archive],
    [otherId, Buffer.from("another bundle")],
  ] as const) {
    const staged = await store.stagingDir();
    await Bun.write(join(staged, "bundle.tar.gz"), bytes);
    const contents = { format: 1, architecture: "x64", appRepoUrl: "file:///app", appRef: "main" } as const;
    await store.commit(staged, {
      ...contents,
      appCommit: "f".repeat(40),
      bunVersion: "1.4.5",
      claudeCodeVersion: "2.1.337",
      id,
      sizeBytes: bytes.length,
      builtAt: NOW,
      buildMs: 1,
    });
  }
  for (const [id, ipv4] of [
    ["i1", "127.0.0.1"],
    ["i2", "127.0.0.1"],
    ["i5", "127.0.0.5"],
    ["ifar", "203.0.113.9"],
    ["inew", null],
  ] as const) {
    t.db.insert(instances).values({ id, ipv4, createdAt: 1, updatedAt: 1 }).run();
  }
  const grant = (instanceId: string, id = bundleId, expiresAt = NOW + 3_600_000) =>
    issueBundleGrant(t.db, t.sealer, {
      grantId: `provision:${instanceId}:${id}`,
      instanceId,
      purpose: "boot",
      bundleId: id,
      expiresAt,
      now: NOW,
    });
  token = grant("i1");
  grant("i2");
  grant("i5");
  grant("ifar");
  grant("inew");
  logLines = [];
  metrics = createMetrics();
  api = createApiServer({
    config,
    db: t.db,
    queue: unusedQueue(),
    log: createLogger({ level: "info", destination: { write: (line: string) => logLines.push(line) } }),
    metrics,
    port: 0,
    publicPort: 0,
  });
});
afterAll(async () => {
  await api.stop(1000);
  t.close();
});

/** Downloads never touch the broker. */
function unusedQueue(): JobQueue {
  const unused = () => Promise.reject(new Error("not used by bundle downloads"));
  return { enqueue: unused, signal: unused, retry: unused, ping: async () => true, close: async () => {} };
}

const urlOf = (instanceId: string, id = bundleId) => bundleDownloadUrl(api.publicUrl, instanceId, id);
const get = (url: string, headers: Record<string, string> = {}, method = "GET") =>
  fetch(url, { method, headers: { authorization: `Bearer ${token}`, "x-request-id": "r1", ...headers } });

describe("serving a bundle to the server it was granted to", () => {
  test("GET sends the archive with its size and sha256; HEAD the same headers without a body", async () => {
    const response = await get(urlOf("i1"));
    expect(response.status).toBe(200);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(new Uint8Array(archive));
    expect(Object.fromEntries(response.headers)).toMatchObject({
      "content-type": "application/gzip",
      "content-length": String(archive.length),
      "accept-ranges": "bytes",
      etag: `"${bundleId}"`,
      "x-bundle-sha256": bundleId,
      "repr-digest": `sha-256=:${Buffer.from(bundleId, "hex").toString("base64")}:`,
      "cache-control": "private, no-store",
    });
    const head = await get(urlOf("i1"), {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(archive.length));
    expect(head.headers.get("x-bundle-sha256")).toBe(bundleId);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  test("Range: a slice, a suffix, an open end; past the end is 416; a stale If-Range gets everything", async () => {
    const slice = await get(urlOf("i1"), { range: "bytes=1000-1999" });
    expect(slice.status).toBe(206);
    expect(slice.headers.get("content-range")).toBe(`bytes 1000-1999/${archive.length}`);
    expect(new Uint8Array(await slice.arrayBuffer())).toEqual(new Uint8Array(archive.subarray(1000, 2000)));
    const suffix = await get(urlOf("i1"), { range: "bytes=-5" });
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(new Uint8Array(archive.subarray(-5)));
    const rest = await get(urlOf("i1"), { range: `bytes=${archive.length - 10}-` });
    expect(rest.headers.get("content-length")).toBe("10");
    expect((await rest.arrayBuffer()).byteLength).toBe(10);
    const past = await get(urlOf("i1"), { range: `bytes=${archive.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${archive.length}`);
    const stale = await get(urlOf("i1"), { range: "bytes=0-9", "if-range": '"another"' });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(archive.length);
    const several = await get(urlOf("i1"), { range: "bytes=0-1,5-6" });
    expect(several.status).toBe(200);
    await several.arrayBuffer();
  });

  test("curl resumes a cut-off download from the server's own address and the checksum holds", async () => {
    const file = join(t.dir, "resumed.tar.gz");
    await Bun.write(file, archive.subarray(0, 123_456));
    const curl = await runCommand([
      "curl",
      "--fail",
      "--silent",
      "--show-error",
      "--interface",
      "127.0.0.5",
      "--continue-at",
      "-",
      "--header",
      `Authorization: Bearer ${issueTokenFor("i5")}`,
      "--output",
      file,
      urlOf("i5"),
    ]);
    expect(curl.stderr).toBe("");
    expect(curl.exitCode).toBe(0);
    const sha256 = createHash("sha256")
      .update(new Uint8Array(await Bun.file(file).arrayBuffer()))
      .digest("hex");
    expect(sha256).toBe(bundleId);
  });
});

/** The token of `provision:<instanceId>:<bundleId>`, issued in beforeAll (issuing again returns it). */
function issueTokenFor(instanceId: string, id = bundleId): string {
  return issueBundleGrant(t.db, t.sealer, {
    grantId: `provision:${instanceId}:${id}`,
    instanceId,
    purpose: "boot",
    bundleId: id,
    expiresAt: NOW + 3_600_000,
    now: NOW,
  });
}

describe("anything else is the router's 404, and says nothing more", () => {
  const NOT_FOUND = { code: "not_found", message: "no such route", requestId: "r1" };

  const own = (instanceId: string) => () => ({ authorization: `Bearer ${issueTokenFor(instanceId)}` });
  const none = () => ({});
  test.each([
    ["no token", urlOf.bind(null, "i1"), () => ({ authorization: "" }), "GET"],
    ["a wrong token", urlOf.bind(null, "i1"), () => ({ authorization: "Bearer nope" }), "GET"],
    ["another instance's token", urlOf.bind(null, "i2"), none, "GET"],
    ["a bundle the grant is not for", () => urlOf("i1", otherId), none, "GET"],
    ["an unknown bundle", () => urlOf("i1", "d".repeat(64)), none, "GET"],
    ["a path that is no bundle id", () => urlOf("i1", "..%2Fmanifest.json"), none, "GET"],
    ["an unknown instance", urlOf.bind(null, "nope"), none, "GET"],
    ["a malformed escape", () => `${api.publicUrl}/v1/instances/%E0%A4%A/bundles/${bundleId}`, none, "GET"],
    ["its own token from another address than the server's", urlOf.bind(null, "ifar"), own("ifar"), "GET"],
    ["POST", urlOf.bind(null, "i1"), none, "POST"],
    ["DELETE", urlOf.bind(null, "i1"), none, "DELETE"],
  ] as const)("%s", async (_name, url, headers, method) => {
    const response = await get(url(), headers(), method);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(NOT_FOUND);
    expect(response.headers.get("x-bundle-sha256")).toBeNull();
  });

  test("a boot's token is spent once the server has phoned home, and the refusal is logged without it", async () => {
    t.db.update(instances).set({ callbackReceivedAt: Date.now() }).where(eq(instances.id, "i2")).run();
    const spent = await get(urlOf("i2"), { authorization: `Bearer ${issueTokenFor("i2")}` });
    expect(spent.status).toBe(404);
    expect(await spent.json()).toEqual(NOT_FOUND);
    const refusals = logLines.filter((line) => line.includes("bundle download refused"));
    expect(
      refusals.some((line) => line.includes('"reason":"no_grant"') && line.includes('"instanceId":"i2"')),
    ).toBe(true);
    expect(refusals.some((line) => line.includes('"reason":"wrong_origin"'))).toBe(true);
    expect(logLines.join("\n")).not.toContain(token);
  });
});

describe("on the public listener", () => {
  test("before create-server has stored the server's address, the token alone opens the download", async () => {
    const response = await get(urlOf("inew"), { authorization: `Bearer ${issueTokenFor("inew")}` }, "HEAD");
    expect(response.status).toBe(200);
  });

  /** curl leaving from `from`, as a server behind (or without) a proxy sends it; returns the HTTP status. */
  const curlFrom = async (from: string, instanceId: string, headers: string[]) => {
    const curl = await runCommand([
      "curl",
      "--silent",
      "--output",
      "/dev/null",
      "--write-out",
      "%{http_code}",
      "--interface",
      from,
      ...headers.flatMap((header) => ["--header", header]),
      "--header",
      `Authorization: Bearer ${issueTokenFor(instanceId)}`,
      urlOf(instanceId),
    ]);
    return curl.stdout;
  };

  test("a trusted proxy's X-Forwarded-For names the server; anyone else's is ignored", async () => {
    expect(await curlFrom(PROXY_IP, "ifar", ["X-Forwarded-For: 203.0.113.9"])).toBe("200");
    expect(await curlFrom("127.0.0.5", "ifar", ["X-Forwarded-For: 203.0.113.9"])).toBe("404");
    expect(await curlFrom(PROXY_IP, "ifar", ["X-Forwarded-For: 203.0.113.10"])).toBe("404");
  });

  test("requests are counted under the route template, never the raw path", async () => {
    await (await get(urlOf("i1"), {}, "HEAD")).arrayBuffer();
    const text = await metrics.render();
    expect(text).toContain('route="/v1/instances/:instanceId/bundles/:bundleId"');
    expect(text).not.toContain(bundleId);
  });
});
