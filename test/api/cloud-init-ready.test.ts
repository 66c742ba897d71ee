import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import http from "node:http";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { createSealer } from "../../core/secrets.ts";
import { generateSshKeyPair } from "../../core/ssh-keygen.ts";
import { instances, operations, signals } from "../../db/schema.ts";
import { openOperation } from "../../domain/operations.ts";
import { type Runtime, startRuntime } from "../../harness/runner/harness.ts";
import { freePorts } from "../../harness/support/processes.ts";
import { CLOUD_INIT_READY_SIGNAL, issueCallbackToken } from "../../jobs/provision/callback-token.ts";
import { connectJobQueue } from "../../queue/queue.ts";
import { noRetry, waitForOperation } from "../runner/steps.ts";

// One real broker for the file; spawning it on a loaded 2-core machine can take a few seconds.
setDefaultTimeout(30_000);

const logText: string[] = [];
const log = createLogger({ level: "debug", destination: { write: (line: string) => logText.push(line) } });

let runtime: Runtime;
let api: ApiServer;
beforeAll(async () => {
  runtime = await startRuntime({ collectLogs: false });
  api = createApiServer({ ...apiDeps(), queue: runtime.queue, port: 0, publicPort: 0 });
});
afterAll(async () => {
  await api.stop(1000);
  await runtime.dispose();
});

const apiDeps = () => ({ config: runtime.config, db: runtime.db, log, metrics: createMetrics() });

/** Each test gets its own instance on its own loopback address, as the simulator hands them out. */
let seq = 0;
let instanceId: string;
let serverIp: string;
let token: string;
let hostKey: string;
beforeEach(() => {
  seq++;
  instanceId = `itest${String(seq).padStart(8, "0")}`;
  serverIp = `127.1.0.${seq}`;
  const now = Date.now();
  runtime.db
    .insert(instances)
    .values({ id: instanceId, ipv4: serverIp, createdAt: now, updatedAt: now })
    .run();
  token = issueCallbackToken(runtime.db, createSealer(runtime.config.secretsKeys), instanceId);
  hostKey = generateSshKeyPair("unused").publicKey.split(" ").slice(0, 2).join(" ");
});

/** What cloud-init's phone_home posts with `post: all` on a box that only has an ed25519 key. */
function phoneHomeForm(overrides: Record<string, string> = {}): string {
  return new URLSearchParams({
    pub_key_rsa: "N/A",
    pub_key_ecdsa: "N/A",
    pub_key_ed25519: `${hostKey} root@${instanceId}\n`,
    instance_id: "4711",
    hostname: `rachel-${instanceId}`,
    fqdn: `rachel-${instanceId}`,
    ...overrides,
  }).toString();
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** A real HTTP POST leaving from `localAddress`, as the server's own cloud-init would send it. */
function post(
  path: string,
  body: string,
  opts: { from?: string; contentType?: string; baseUrl?: string } = {},
): Promise<Answer> {
  const url = new URL(path, opts.baseUrl ?? api.publicUrl);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: "POST",
        localAddress: opts.from ?? serverIp,
        headers: { "content-type": opts.contentType ?? "application/x-www-form-urlencoded" },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || "{}"),
          }),
        );
      },
    );
    request.once("error", reject);
    request.end(body);
  });
}

const readyPath = (id = instanceId, withToken: string | null = token) =>
  `/v1/cloud-init/${id}/ready${withToken === null ? "" : `?token=${encodeURIComponent(withToken)}`}`;

const instanceRow = () => runtime.db.select().from(instances).where(eq(instances.id, instanceId)).get();
const signalRows = () => runtime.db.select().from(signals).where(eq(signals.instanceId, instanceId)).all();

function expectNothingChanged() {
  expect(instanceRow()).toMatchObject({ reportedHostKey: null, callbackReceivedAt: null });
  expect(signalRows()).toEqual([]);
}

describe("POST /v1/cloud-init/:instanceId/ready", () => {
  test("accepts the server's report: stores the host key and records the signal", async () => {
    const answer = await post(readyPath(), phoneHomeForm());
    expect(answer).toEqual({ status: 200, body: { status: "accepted" } });
    const row = instanceRow();
    expect(row?.reportedHostKey).toBe(hostKey);
    expect(row?.callbackReceivedAt).toBeNumber();
    expect(signalRows().map((s) => [s.name, JSON.parse(s.data)])).toEqual([
      [CLOUD_INIT_READY_SIGNAL, { hostKey }],
    ]);
  });

  test("wakes the job parked on the signal, which receives the host key", async () => {
    const received: Record<string, unknown>[] = [];
    const worker = await runtime.startWorker([
      {
        name: "await-callback",
        steps: [
          {
            name: "wait",
            output: z.object({}),
            retry: noRetry,
            timeoutMs: 5000,
            run: async (ctx) => {
              received.push(await ctx.waitFor(CLOUD_INIT_READY_SIGNAL, { timeoutMs: 20_000 }));
              return {};
            },
          },
        ],
      },
    ]);
    try {
      const { jobId } = await runtime.queue.enqueue("await-callback", instanceId);
      await waitForOperation(runtime.db, jobId, "parked");
      expect((await post(readyPath(), phoneHomeForm())).status).toBe(200);
      await waitForOperation(runtime.db, jobId, "succeeded");
      expect(received).toEqual([{ hostKey }]);
    } finally {
      await worker.stop();
    }
  });

  test("a wrong or missing token is refused and changes nothing", async () => {
    // The last character is swapped for a different one (a fixed "A" would be the right token 1 time in 16).
    const last = token.endsWith("A") ? "B" : "A";
    const wrong = await post(readyPath(instanceId, `${token.slice(0, -1)}${last}`), phoneHomeForm());
    const missing = await post(readyPath(instanceId, null), phoneHomeForm());
    for (const answer of [wrong, missing]) {
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ code: "invalid_token" });
    }
    expectNothingChanged();
  });

  test("another instance's token is refused", async () => {
    const other = `iother${seq}`;
    runtime.db.insert(instances).values({ id: other, createdAt: 1, updatedAt: 1 }).run();
    const otherToken = issueCallbackToken(runtime.db, createSealer(runtime.config.secretsKeys), other);
    expect((await post(readyPath(instanceId, otherToken), phoneHomeForm())).status).toBe(403);
    expectNothingChanged();
  });

  test("a report from any address but the server's own is refused", async () => {
    const answer = await post(readyPath(), phoneHomeForm(), { from: "127.0.0.1" });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: "wrong_origin" });
    expectNothingChanged();
  });

  test("before the server's address is known, the token alone admits the report", async () => {
    runtime.db.update(instances).set({ ipv4: null }).where(eq(instances.id, instanceId)).run();
    expect((await post(readyPath(), phoneHomeForm(), { from: "127.0.0.1" })).status).toBe(200);
    expect(instanceRow()?.reportedHostKey).toBe(hostKey);
  });

  test("is accepted once: a repeat answers 200 and changes nothing", async () => {
    expect((await post(readyPath(), phoneHomeForm())).status).toBe(200);
    const first = instanceRow();
    const impostorKey = generateSshKeyPair("x").publicKey;
    const repeats = await Promise.all([
      post(readyPath(), phoneHomeForm({ pub_key_ed25519: impostorKey })),
      post(readyPath(), phoneHomeForm()),
    ]);
    for (const repeat of repeats)
      expect(repeat).toEqual({ status: 200, body: { status: "already_received" } });
    expect(instanceRow()).toEqual(first);
    expect(signalRows()).toHaveLength(1);
  });

  test("a repeat after the report was stored but its signal lost records the stored key's signal once", async () => {
    // What an API killed between storing the report and signalling leaves behind.
    const receivedAt = Date.now();
    runtime.db
      .update(instances)
      .set({ reportedHostKey: hostKey, callbackReceivedAt: receivedAt })
      .where(eq(instances.id, instanceId))
      .run();
    // No wait open: a stray repeat records nothing that could satisfy a later wait.
    await post(readyPath(), phoneHomeForm());
    expect(signalRows()).toEqual([]);

    const parked = openOperation(runtime.db, "provision", instanceId, receivedAt);
    runtime.db
      .update(operations)
      .set({ status: "parked", waitSignal: CLOUD_INIT_READY_SIGNAL })
      .where(eq(operations.id, parked.id))
      .run();
    const impostorKey = generateSshKeyPair("x").publicKey;
    const repeat = await post(readyPath(), phoneHomeForm({ pub_key_ed25519: impostorKey }));
    expect(repeat).toEqual({ status: 200, body: { status: "already_received" } });
    expect(signalRows().map((s) => JSON.parse(s.data))).toEqual([{ hostKey }]);
    await post(readyPath(), phoneHomeForm());
    expect(signalRows()).toHaveLength(1);
  });

  test("a malformed body or host key is a 4xx naming the field, and changes nothing", async () => {
    const cases: [string, { contentType?: string }, number, string][] = [
      [
        JSON.stringify({ pub_key_ed25519: hostKey }),
        { contentType: "application/json" },
        400,
        "body must be",
      ],
      [phoneHomeForm({ pub_key_ed25519: "N/A" }), {}, 422, "pub_key_ed25519"],
      [new URLSearchParams({ hostname: "x" }).toString(), {}, 422, "pub_key_ed25519"],
      [phoneHomeForm({ pub_key_ed25519: "ssh-ed25519 AAAAnot-base64!" }), {}, 422, "pub_key_ed25519"],
      [phoneHomeForm({ pub_key_ed25519: "ssh-rsa AAAAB3NzaC1yc2E=" }), {}, 422, "pub_key_ed25519"],
      ["a".repeat(70_000), {}, 413, "at most"],
    ];
    for (const [body, opts, status, message] of cases) {
      const answer = await post(readyPath(), body, opts);
      expect(answer.status).toBe(status);
      expect(String(answer.body.message)).toContain(message);
    }
    expectNothingChanged();
  });

  test("an unknown instance is refused as a wrong token is: nobody learns which instances exist", async () => {
    const unknown = await post(readyPath("inowhere000000"), phoneHomeForm());
    const wrongToken = await post(readyPath(instanceId, "wrong-token-value"), phoneHomeForm());
    const { requestId: _, ...unknownBody } = unknown.body;
    const { requestId: __, ...wrongTokenBody } = wrongToken.body;
    expect({ status: unknown.status, body: unknownBody }).toEqual({
      status: wrongToken.status,
      body: wrongTokenBody,
    });
    expect(unknown).toMatchObject({ status: 403, body: { code: "invalid_token" } });
    expectNothingChanged();
  });

  test("the callback is served on the public listener only; the private one does not know the route", async () => {
    const answer = await post(readyPath(), phoneHomeForm(), { baseUrl: api.url });
    expect(answer).toMatchObject({ status: 404, body: { code: "not_found" } });
    expectNothingChanged();
  });

  test("the token appears in no log line", async () => {
    await post(readyPath(instanceId, "wrong-token-value"), phoneHomeForm());
    await post(readyPath(), phoneHomeForm(), { from: "127.0.0.1" });
    await post(readyPath(), phoneHomeForm());
    const lines = logText.join("");
    expect(lines).toContain(`/v1/cloud-init/${instanceId}/ready`);
    expect(lines).not.toContain(token);
    expect(lines).not.toContain(encodeURIComponent(token));
    expect(lines).not.toContain("wrong-token-value");
  });

  test("with the broker down the signal is still stored, and the report accepted", async () => {
    const [deadPort = 1] = await freePorts(1);
    const queue = connectJobQueue({
      host: "127.0.0.1",
      port: deadPort,
      token: runtime.config.brokerToken,
      db: runtime.db,
      commandTimeoutMs: 300,
    });
    const offline = createApiServer({ ...apiDeps(), queue, port: 0, publicPort: 0 });
    try {
      const now = Date.now();
      // A provision parked on the callback, so the queue has a job to wake and must reach the broker.
      runtime.db
        .insert(operations)
        .values({
          id: `provision:${instanceId}:1`,
          instanceId,
          operation: "provision",
          seq: 1,
          status: "parked",
          waitSignal: CLOUD_INIT_READY_SIGNAL,
          waitDeadline: now + 60_000,
          createdAt: now,
          updatedAt: now,
        })
        .run();
      const answer = await post(readyPath(), phoneHomeForm(), { baseUrl: offline.publicUrl });
      expect(answer).toEqual({ status: 200, body: { status: "accepted" } });
      expect(signalRows()).toHaveLength(1);
      expect(instanceRow()?.reportedHostKey).toBe(hostKey);
      expect(logText.join("")).toContain("cloud-init signal stored; waking the job failed");
    } finally {
      await offline.stop(1000);
      await queue.close();
    }
  });
});
