/**
 * deploy/Caddyfile run by real Caddy (with `tls internal`: no certificate authority is reachable here) in
 * front of the API's public listener on loopback, the API trusting it as TRUSTED_PROXIES says.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { eq } from "drizzle-orm";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { createSealer } from "../../core/secrets.ts";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { pollUntil } from "../../core/wait.ts";
import { instances } from "../../db/schema.ts";
import { type Runtime, startRuntime } from "../../harness/runner/harness.ts";
import { freePorts } from "../../harness/support/processes.ts";
import { issueCallbackToken } from "../../jobs/provision/callback-token.ts";

setDefaultTimeout(30_000);
const caddyfile = resolve(import.meta.dir, "../../deploy/Caddyfile");
// Missing Caddy: skip on a developer machine, but CI must install it (.ci/install-tools) rather than pass silently.
const hasCaddy = Bun.which("caddy") !== null;
const runs = hasCaddy || process.env.CI === "true";
if (!runs) console.warn("skipping the Caddy tests: apt-get install -y caddy");

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

let runtime: Runtime;
let api: ApiServer;
let caddy: Bun.Subprocess | undefined;
let dir: string;
let httpsPort: number;
let rootCa: string;

beforeAll(async () => {
  if (!runs) return;
  if (!hasCaddy) throw new Error("caddy is not installed (apt-get install -y caddy)");
  runtime = await startRuntime({ collectLogs: false });
  const config = { ...runtime.config, trustedProxies: ["127.0.0.1/32"] };
  const log = createLogger({ level: "silent" });
  api = createApiServer({
    config,
    db: runtime.db,
    queue: runtime.queue,
    log,
    metrics: createMetrics(),
    port: 0,
    publicPort: 0,
  });
  dir = mkdtempSync(join(tmpdir(), "caddy-"));
  const [httpPort = 0, tlsPort = 0] = await freePorts(2);
  httpsPort = tlsPort;
  // Only the global options are the test's (loopback, free ports, own storage); the site block is deploy/Caddyfile's.
  const globals = `{\n\tadmin off\n\tdefault_bind 127.0.0.1\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tskip_install_trust\n\tstorage file_system ${join(dir, "storage")}\n}\n`;
  const testCaddyfile = join(dir, "Caddyfile");
  writeFileSync(testCaddyfile, globals + readFileSync(caddyfile, "utf8"));
  caddy = Bun.spawn(["caddy", "run", "--adapter", "caddyfile", "--config", testCaddyfile], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      PUBLIC_BASE_URL: `https://localhost:${httpsPort}`,
      ACME_EMAIL: "internal",
      PUBLIC_API_HOST: "127.0.0.1",
      PUBLIC_API_PORT: new URL(api.publicUrl).port,
    },
    stdout: "ignore",
    stderr: "pipe",
  });
  const rootPath = join(dir, "storage/pki/authorities/local/root.crt");
  await pollUntil(() => existsSync(rootPath), { timeoutMs: 15_000, description: "Caddy's local CA" });
  rootCa = readFileSync(rootPath, "utf8");
  await pollUntil(
    async () => (await viaCaddy("GET", "/nope", "", "127.0.0.1").catch(() => null))?.status === 404,
    {
      timeoutMs: 15_000,
      description: "Caddy to serve TLS for localhost",
    },
  );
});

afterAll(async () => {
  if (!hasCaddy) return;
  caddy?.kill();
  await caddy?.exited;
  await api.stop(100);
  await runtime.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** An HTTPS request to Caddy for `localhost`, leaving from `from`, trusting only Caddy's local CA. */
function viaCaddy(
  method: string,
  path: string,
  body: string,
  from: string,
  headers: Record<string, string> = {},
) {
  return request(
    https.request,
    { host: "127.0.0.1", port: httpsPort, servername: "localhost", ca: rootCa },
    method,
    path,
    body,
    from,
    headers,
  );
}

function request(
  send: typeof https.request,
  target: https.RequestOptions,
  method: string,
  path: string,
  body: string,
  from: string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const sent = send(
      {
        ...target,
        method,
        path,
        localAddress: from,
        headers: { host: `localhost:${httpsPort}`, ...headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolvePromise({
            status: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || "{}"),
          }),
        );
      },
    );
    sent.once("error", reject);
    sent.end(body);
  });
}

let seq = 0;
/** A fresh instance whose server has address `serverIp`, with its callback path and phone_home form. */
function instanceAt(serverIp: string) {
  const instanceId = `icaddy${String(++seq).padStart(8, "0")}`;
  const now = Date.now();
  runtime.db
    .insert(instances)
    .values({ id: instanceId, ipv4: serverIp, createdAt: now, updatedAt: now })
    .run();
  const token = issueCallbackToken(runtime.db, createSealer(runtime.config.secretsKeys), instanceId);
  const hostKey = generateSshKeyPair("unused").publicKey.split(" ").slice(0, 2).join(" ");
  return {
    path: `/v1/cloud-init/${instanceId}/ready?token=${encodeURIComponent(token)}`,
    form: new URLSearchParams({ pub_key_ed25519: `${hostKey} root@box\n` }).toString(),
    row: () => runtime.db.select().from(instances).where(eq(instances.id, instanceId)).get(),
  };
}
const FORM = { "content-type": "application/x-www-form-urlencoded" };

describe.skipIf(!runs)("deploy/Caddyfile in front of the public listener", () => {
  test("a callback through Caddy is accepted: the API sees the server's own address, not Caddy's", async () => {
    const box = instanceAt("127.1.7.1");
    expect(await viaCaddy("POST", box.path, box.form, "127.1.7.1", FORM)).toEqual({
      status: 200,
      body: { status: "accepted" },
    });
    expect(box.row()?.callbackReceivedAt).toBeNumber();
  });

  test("a forged X-Forwarded-For is ignored: through Caddy (it replaces it) and straight from an untrusted peer", async () => {
    const box = instanceAt("127.1.7.2");
    const forged = { ...FORM, "x-forwarded-for": "127.1.7.2" };
    const throughCaddy = await viaCaddy("POST", box.path, box.form, "127.1.7.99", forged);
    expect(throughCaddy).toMatchObject({ status: 403, body: { code: "wrong_origin" } });
    const { hostname, port } = new URL(api.publicUrl);
    const direct = await request(
      http.request,
      { host: hostname, port: Number(port) },
      "POST",
      box.path,
      box.form,
      "127.1.7.99",
      forged,
    );
    expect(direct).toMatchObject({ status: 403, body: { code: "wrong_origin" } });
    expect(box.row()?.callbackReceivedAt).toBeNull();
  });

  test("only the public routes are behind it: ops and metrics are 404 through Caddy", async () => {
    for (const path of ["/metrics", "/v1/ops/status", "/healthz"]) {
      expect(await viaCaddy("GET", path, "", "127.0.0.1")).toMatchObject({
        status: 404,
        body: { code: "not_found" },
      });
    }
  });
});
