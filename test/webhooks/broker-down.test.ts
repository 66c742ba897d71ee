import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { Queue } from "bunqueue/client";
import { loadConfig } from "../../core/config.ts";
import { createSealer } from "../../core/secrets.ts";
import { pollUntil } from "../../core/wait.ts";
import { appDatabasePath, type Db, openDatabase } from "../../db/index.ts";
import { createCustomerStore } from "../../domain/customers.ts";
import { customerSecrets } from "../../harness/customers/fixtures.ts";
import { createTestStack, type TestStack } from "../../harness/support/processes.ts";
import {
  newWebhookSecret,
  postDelivery,
  signStandard,
  standardPayload,
} from "../../harness/webhooks/world.ts";
import { operationsQueueName } from "../../queue/payload.ts";

// Real broker and API processes; a refused enqueue waits for the client's 5 s command timeout.
setDefaultTimeout(60_000);

const secret = newWebhookSecret();
let stack: TestStack;
let db: Db;
beforeAll(async () => {
  stack = await createTestStack({ env: { STANDARD_WEBHOOK_SECRET: secret, LOG_LEVEL: "info" } });
  await stack.start("broker");
  await stack.start("api");
  db = openDatabase(appDatabasePath(stack.dataDir));
  const store = createCustomerStore({ db, sealer: createSealer(loadConfig(stack.env).secretsKeys) });
  for (const customerId of ["down-before", "down-during"])
    store.upsert(customerId, customerSecrets(customerId));
});
afterAll(async () => {
  db?.$client.close();
  await stack?.dispose();
});

const webhook = (customerId: string) =>
  signStandard(standardPayload({ customerId, subscriptionId: `sub_${customerId}` }), [secret]);

async function brokerJobState(jobId: string): Promise<string> {
  const { BROKER_PORT, BROKER_TOKEN } = stack.env;
  const broker = new Queue(operationsQueueName, {
    connection: { host: "127.0.0.1", port: Number(BROKER_PORT), token: BROKER_TOKEN ?? "" },
  });
  try {
    return await broker.getJobState(jobId);
  } finally {
    await broker.disconnect();
  }
}

const operationIdOf = (customerId: string) =>
  db.$client
    .query<{ id: string }, [string]>(
      "SELECT o.id FROM operations o JOIN instances i ON i.id = o.instance_id WHERE i.customer_id = ?",
    )
    .all(customerId)
    .map((row) => row.id);

test("broker down: 503 and the event stays unhandled; back up, the redelivery is 200 and the job is queued", async () => {
  const url = `${stack.publicApiUrl}/v1/webhooks/standard`;
  expect((await postDelivery(url, webhook("down-before"))).body).toEqual({ status: "applied" });

  await stack.kill("broker");
  const delivery = webhook("down-during");
  const refused = await postDelivery(url, delivery);
  expect(refused).toMatchObject({ status: 503, body: { code: "unavailable" } });
  const eventId = delivery.headers["webhook-id"] ?? "";
  const row = db.$client
    .query<{ handled_at: number | null }, [string]>(
      "SELECT handled_at FROM payment_events WHERE event_id = ?",
    )
    .get(eventId);
  expect(row).toEqual({ handled_at: null });
  await stack.waitForLog("api", (line) => line.json?.msg === "payment webhook not applied");
  const apiLog = stack.logs("api").map((line) => line.text);
  for (const value of [secret, stack.env.BROKER_TOKEN ?? "", delivery.headers["webhook-signature"] ?? ""]) {
    expect(apiLog.join("\n")).not.toContain(value);
  }

  await stack.start("broker");
  // As the provider does: redeliver until accepted; until the client has reconnected each try is a 503.
  const redelivered = await pollUntil(
    async () => {
      const answer = await postDelivery(url, delivery);
      if (answer.status === 200) return answer;
      expect(answer).toMatchObject({ status: 503, body: { code: "unavailable" } });
      return undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200, description: "the redelivery to be accepted" },
  );
  expect(redelivered.body).toEqual({ status: "applied" });
  const [during] = operationIdOf("down-during");
  expect(operationIdOf("down-during")).toHaveLength(1);
  expect(await brokerJobState(during ?? "")).toBe("waiting");
  // The durable add made before the outage survived the broker's kill -9.
  const [before] = operationIdOf("down-before");
  expect(await brokerJobState(before ?? "")).toBe("waiting");
  expect((await postDelivery(url, delivery)).body).toEqual({ status: "duplicate" });
});
