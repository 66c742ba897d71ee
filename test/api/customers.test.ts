import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import { type Config, loadConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { createSealer } from "../../core/secrets.ts";
import { type Db, migrateDatabase, openDatabase } from "../../db/index.ts";
import { customers, instances } from "../../db/schema.ts";
import { type CustomerStore, createCustomerStore } from "../../domain/customers.ts";
import { customerSecrets } from "../../harness/customers/fixtures.ts";
import type { JobQueue } from "../../queue/queue.ts";

const SERVICE_TOKEN = "service-token-for-tests-0123456789-abcdef";
const dataDir = mkdtempSync(join(tmpdir(), "api-customers-"));
const logText: string[] = [];
const log = createLogger({ level: "debug", destination: { write: (line: string) => logText.push(line) } });

const configWith = (serviceToken: string | undefined): Config =>
  loadConfig({
    DATA_DIR: dataDir,
    BROKER_TOKEN: "broker-token",
    SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
    HCLOUD_TOKEN: "hcloud-token",
    SERVICE_TOKEN: serviceToken,
  });
const config = configWith(SERVICE_TOKEN);

/** Registration never touches the broker; any use of it fails the test loudly. */
function unusedQueue(): JobQueue {
  const unused = () => Promise.reject(new Error("customer registration must not use the queue"));
  return { enqueue: unused, signal: unused, retry: unused, ping: unused, close: async () => {} };
}

let db: Db;
let api: ApiServer;
let store: CustomerStore;
beforeAll(() => {
  db = openDatabase(join(dataDir, "app.sqlite"));
  migrateDatabase(db);
  api = createApiServer({
    config,
    db,
    queue: unusedQueue(),
    log,
    metrics: createMetrics(),
    port: 0,
    publicPort: 0,
  });
  store = createCustomerStore({ db, sealer: createSealer(config.secretsKeys) });
});
afterAll(async () => {
  await api.stop(100);
  db.$client.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

async function put(
  customerId: string,
  body: string | ReadableStream<Uint8Array>,
  headers: Record<string, string> = { authorization: `Bearer ${SERVICE_TOKEN}` },
  baseUrl = api.url,
): Promise<Answer> {
  const response = await fetch(`${baseUrl}/v1/customers/${customerId}`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text || "{}") };
}

const putJson = (customerId: string, value: unknown, headers?: Record<string, string>) =>
  put(customerId, JSON.stringify(value), headers);

const customerRow = (customerId: string) =>
  db.select().from(customers).where(eq(customers.id, customerId)).get();

/** Every string a secret fixture carries, to look for in answers and log lines. */
const secretValues = (marker: string) => {
  const { telegramBotToken, claude } = customerSecrets(marker);
  return [marker, telegramBotToken, claude.accessToken, claude.refreshToken];
};

function expectNowhere(values: readonly string[], texts: readonly string[]) {
  for (const value of values) for (const text of texts) expect(text).not.toContain(value);
}

describe("PUT /v1/customers/:customerId", () => {
  test("creates a customer: 201, only id and times in the answer, secrets sealed, none in logs", async () => {
    const logStart = logText.length;
    const answer = await putJson("cust-create", customerSecrets("createMarker"));
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({
      customerId: "cust-create",
      created: true,
      updatedAt: expect.any(String),
      reconfigure: null,
      payment: { state: null, operationId: null },
    });
    expect(Date.parse(String(answer.body.updatedAt))).toBe(customerRow("cust-create")?.updatedAt ?? 0);
    expect(store.open("cust-create")).toEqual(customerSecrets("createMarker"));
    const row = JSON.stringify(customerRow("cust-create"));
    const lines = logText.slice(logStart);
    expect(lines.join("")).toContain('"msg":"customer registered"');
    expectNowhere(secretValues("createMarker"), [answer.text, row, ...lines]);
  });

  test("updates a customer: 200, and the sealed values are replaced by the new ones", async () => {
    expect((await putJson("cust-update", customerSecrets("oldMarker"))).status).toBe(201);
    const logStart = logText.length;
    const answer = await putJson("cust-update", customerSecrets("newMarker"));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ customerId: "cust-update", created: false });
    expect(store.open("cust-update")).toEqual(customerSecrets("newMarker"));
    expectNowhere(secretValues("newMarker"), [answer.text, ...logText.slice(logStart)]);
  });

  test("re-registers a shredded (deprovisioned) customer: 200 and the secrets open again", async () => {
    expect((await putJson("cust-shred", customerSecrets("before"))).status).toBe(201);
    store.shred("cust-shred");
    expect((await putJson("cust-shred", customerSecrets("after"))).status).toBe(200);
    expect(store.open("cust-shred")).toEqual(customerSecrets("after"));
  });

  test("two concurrent first registrations: one creates (201), the other updates (200)", async () => {
    const answers = await Promise.all([
      putJson("cust-race", customerSecrets("raceOne")),
      putJson("cust-race", customerSecrets("raceTwo")),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 201]);
  });

  test("401 without the right bearer token, and nothing is stored", async () => {
    const secrets = customerSecrets("unauthorized");
    const wrong: Record<string, string>[] = [
      {},
      { authorization: "" },
      { authorization: SERVICE_TOKEN },
      { authorization: `Basic ${SERVICE_TOKEN}` },
      { authorization: `Bearer ${SERVICE_TOKEN.slice(0, -1)}` },
      { authorization: `Bearer ${SERVICE_TOKEN}x` },
      { authorization: "Bearer " },
    ];
    for (const headers of wrong) {
      const answer = await putJson("cust-unauthorized", secrets, headers);
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({
        code: "unauthorized",
        message: "missing or wrong bearer token",
        requestId: expect.any(String),
      });
      expect(answer.headers.get("www-authenticate")).toBe("Bearer");
    }
    expect(customerRow("cust-unauthorized")).toBeUndefined();
  });

  test("the scheme name is case-insensitive", async () => {
    const answer = await putJson("cust-scheme", customerSecrets("scheme"), {
      authorization: `bearer ${SERVICE_TOKEN}`,
    });
    expect(answer.status).toBe(201);
  });

  test("503 not_configured while SERVICE_TOKEN is unset, whatever the caller presents", async () => {
    const off = createApiServer({
      config: configWith(undefined),
      db,
      queue: unusedQueue(),
      log,
      metrics: createMetrics(),
      port: 0,
      publicPort: 0,
    });
    try {
      const answer = await put("cust-off", JSON.stringify(customerSecrets("off")), undefined, off.url);
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ code: "not_configured" });
      expect(customerRow("cust-off")).toBeUndefined();
    } finally {
      await off.stop(100);
    }
  });

  test("the stored time comes from the clock the server was given, not the machine's", async () => {
    const fixedAt = Date.UTC(2031, 4, 6, 7, 8, 9, 10);
    const fixed = createApiServer({
      config,
      db,
      queue: unusedQueue(),
      log,
      metrics: createMetrics(),
      now: () => fixedAt,
      port: 0,
      publicPort: 0,
    });
    try {
      const answer = await put("cust-clock", JSON.stringify(customerSecrets("clock")), undefined, fixed.url);
      expect(answer.status).toBe(201);
      expect(answer.body.updatedAt).toBe("2031-05-06T07:08:09.010Z");
      expect(customerRow("cust-clock")).toMatchObject({ createdAt: fixedAt, updatedAt: fixedAt });
    } finally {
      await fixed.stop(100);
    }
  });

  test("400 for a body that is not JSON", async () => {
    for (const body of ["{not json", "", `{"telegramBotToken": "123`]) {
      const answer = await put("cust-malformed", body);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: "malformed_json" });
    }
    expect(customerRow("cust-malformed")).toBeUndefined();
  });

  test("413 for a body over 16 KiB, whether its length is declared or it is streamed in chunks", async () => {
    const padded = { ...customerSecrets("large"), padding: "x".repeat(17 * 1024) };
    expect(await put("cust-large", JSON.stringify(padded))).toMatchObject({
      status: 413,
      body: { code: "too_large" },
    });
    const chunk = new TextEncoder().encode("x".repeat(4096));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    expect(await put("cust-large", stream)).toMatchObject({ status: 413, body: { code: "too_large" } });
    expect(customerRow("cust-large")).toBeUndefined();
  });

  test("422 naming every field of the wrong type, missing or unknown, never echoing a value", async () => {
    const secrets = customerSecrets("shapeMarker");
    const body = {
      telegramBotToken: 12345,
      ownerTelegramUserId: "424242",
      claude: { accessToken: secrets.claude.accessToken, expiresAt: "soon", scopes: "user:inference" },
      shapeMarkerExtra: "shapeMarker-unknown-value",
    };
    const answer = await putJson("cust-shape", body);
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ code: "invalid_fields", requestId: expect.any(String) });
    expect([...(answer.body.fields as string[])].sort()).toEqual(
      [
        "telegramBotToken",
        "ownerTelegramUserId",
        "claude.refreshToken",
        "claude.expiresAt",
        "claude.scopes",
        "shapeMarkerExtra",
      ].sort(),
    );
    expectNowhere(["shapeMarker-unknown-value", secrets.claude.accessToken, "424242"], [answer.text]);
    expect(customerRow("cust-shape")).toBeUndefined();
  });

  test("422 for a body that is JSON but not an object", async () => {
    for (const body of [[], "a string", null, 7]) {
      const answer = await putJson("cust-not-object", body);
      expect(answer.status).toBe(422);
      expect(answer.body.fields).toEqual(["(body)"]);
    }
  });

  test("422 naming the values the deployed app would refuse, never echoing them", async () => {
    const good = customerSecrets("rulesMarker");
    const body = {
      ...good,
      telegramBotToken: "rulesMarker-not-a-bot-token",
      ownerTelegramUserId: -5,
      claude: { ...good.claude, scopes: ["user:profile"] },
    };
    const logStart = logText.length;
    const answer = await putJson("cust-rules", body);
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({
      code: "invalid_fields",
      fields: ["telegramBotToken", "ownerTelegramUserId", "claude.scopes"],
    });
    expectNowhere(["rulesMarker", good.claude.accessToken], [answer.text, ...logText.slice(logStart)]);
    expect(customerRow("cust-rules")).toBeUndefined();
  });

  test("422 naming customerId when the id is not 1-64 letters, digits, '_' or '-'", async () => {
    for (const customerId of ["a%3Ab", "x".repeat(65), "with%20space"]) {
      const answer = await putJson(customerId, customerSecrets("badId"));
      expect(answer.status).toBe(422);
      expect(answer.body).toMatchObject({ code: "invalid_fields", fields: ["customerId"] });
    }
    expect(
      db.select({ id: customers.id }).from(customers).where(eq(customers.id, "a:b")).get(),
    ).toBeUndefined();
  });
});

describe("GET /v1/customers/:customerId", () => {
  const get = async (customerId: string, token = SERVICE_TOKEN) => {
    const response = await fetch(`${api.url}/v1/customers/${customerId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  test("tells the phase a person understands, and a failure class in their words, never ours", async () => {
    expect((await putJson("cust-state", customerSecrets("stateMarker"))).status).toBe(201);
    expect(await get("cust-state")).toEqual({
      status: 200,
      body: {
        customerId: "cust-state",
        payment: null,
        phase: "not_started",
        waitingPosition: null,
        failure: null,
        readyAt: null,
      },
    });
    const internal = "verify: claude auth status said loggedIn false (internal detail)";
    db.insert(instances)
      .values({
        id: "istatefailed",
        customerId: "cust-state",
        status: "failed",
        errorCode: "not_logged_in",
        errorMessage: internal,
        createdAt: 1,
        updatedAt: 1,
      })
      .run();
    const failed = await get("cust-state");
    expect(failed.body).toMatchObject({ phase: "failed", failure: { class: "login" } });
    expect(JSON.stringify(failed.body)).not.toContain("internal detail");
  });

  test("an unknown customer is 404; a wrong token 401", async () => {
    expect(await get("cust-nobody")).toMatchObject({ status: 404, body: { code: "not_found" } });
    expect((await get("cust-state", "wrong-token-wrong-token-wrong-token-0")).status).toBe(401);
  });
});
