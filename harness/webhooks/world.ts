/**
 * One webhook world per test file: a real broker process and SQLite file (the runner harness), an API server
 * listening on loopback with both webhook secrets, and deliveries signed with the providers' own libraries.
 */
import { afterAll, beforeAll, setDefaultTimeout } from "bun:test";
import { randomBytes } from "node:crypto";
import { Queue } from "bunqueue/client";
import { and, eq, inArray } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import type { Config } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics, type MetricsRegistry } from "../../core/metrics.ts";
import { createSealer } from "../../core/secrets.ts";
import { instances, operations, paymentEvents } from "../../db/schema.ts";
import { createCustomerStore } from "../../domain/customers.ts";
import type { PaymentDeps } from "../../domain/payments/apply.ts";
import { createRequests } from "../../domain/requests.ts";
import { operationsQueueName } from "../../queue/payload.ts";
import { customerSecrets } from "../customers/fixtures.ts";
import { type Runtime, startRuntime } from "../runner/harness.ts";

export const newWebhookSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

export interface Delivery {
  body: string;
  headers: Record<string, string>;
}

export interface Answer {
  status: number;
  text: string;
  body: Record<string, unknown>;
}

export interface WebhookWorld {
  runtime: Runtime;
  api: ApiServer;
  config: Config;
  metrics: MetricsRegistry;
  /** Every log line the API wrote, raw, to search for secrets. */
  logText: string[];
  /** What the registration route calls after registering: apply the recorded payment state. */
  paymentDeps: PaymentDeps;
  register(customerId: string): void;
  /** Registers through the real route, as the onboarding service does. */
  registerViaApi(customerId: string): Promise<Answer>;
  post(provider: string, delivery: Delivery, baseUrl?: string): Promise<Answer>;
  /** Ids of every job waiting in the broker's operations queue. */
  brokerJobIds(): Promise<string[]>;
  /** The operations on the customer's instances, oldest first. */
  operationsOf(customerId: string): { id: string; operation: string }[];
  eventRow(provider: string, eventId: string): typeof paymentEvents.$inferSelect | undefined;
}

/** Builds the world before the file's tests and disposes it after; one broker per file keeps files fast. */
export function webhookWorldForFile(): { readonly current: WebhookWorld } {
  setDefaultTimeout(30_000);
  let world: WebhookWorld | undefined;
  let dispose: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ world, dispose } = await startWebhookWorld());
  });
  afterAll(async () => {
    await dispose?.();
  });
  return {
    get current() {
      if (!world) throw new Error("the webhook world exists only inside a test");
      return world;
    },
  };
}

async function startWebhookWorld(): Promise<{ world: WebhookWorld; dispose: () => Promise<void> }> {
  const runtime = await startRuntime({ collectLogs: false });
  const config: Config = {
    ...runtime.config,
    standardWebhookSecret: newWebhookSecret(),
    stripeWebhookSecret: newWebhookSecret(),
    serviceToken: randomBytes(32).toString("base64url"),
  };
  const logText: string[] = [];
  const log = createLogger({ level: "debug", destination: { write: (line: string) => logText.push(line) } });
  const metrics = createMetrics();
  const { db, queue } = runtime;
  const api = createApiServer({ config, db, queue, log, metrics, port: 0, publicPort: 0 });
  const store = createCustomerStore({ db, sealer: createSealer(config.secretsKeys) });
  const world: WebhookWorld = {
    runtime,
    api,
    config,
    metrics,
    logText,
    paymentDeps: { db, requests: createRequests({ db, queue }) },
    register: (customerId) => store.upsert(customerId, customerSecrets(customerId)),
    registerViaApi: (customerId) => putCustomer(`${api.url}/v1/customers/${customerId}`, config, customerId),
    post: (provider, delivery, baseUrl = api.publicUrl) =>
      postDelivery(`${baseUrl}/v1/webhooks/${provider}`, delivery),
    brokerJobIds: () => waitingJobIds(config),
    operationsOf: (customerId) => operationsOf(runtime, customerId),
    eventRow: (provider, eventId) =>
      db
        .select()
        .from(paymentEvents)
        .where(and(eq(paymentEvents.provider, provider), eq(paymentEvents.eventId, eventId)))
        .get(),
  };
  const dispose = async () => {
    await api.stop(100);
    await runtime.dispose();
  };
  return { world, dispose };
}

export async function postDelivery(url: string, delivery: Delivery): Promise<Answer> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...delivery.headers },
    body: delivery.body,
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text || "{}") };
}

async function putCustomer(url: string, config: Config, customerId: string): Promise<Answer> {
  const response = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${config.serviceToken}` },
    body: JSON.stringify(customerSecrets(customerId)),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text || "{}") };
}

async function waitingJobIds(config: Config): Promise<string[]> {
  const { brokerHost: host, brokerPort: port, brokerToken: token } = config;
  const broker = new Queue(operationsQueueName, { connection: { host, port, token } });
  try {
    return (await broker.getWaitingAsync(0, 100_000)).map((job) => job.id);
  } finally {
    await broker.disconnect();
  }
}

function operationsOf(runtime: Runtime, customerId: string): { id: string; operation: string }[] {
  const ids = runtime.db
    .select({ id: instances.id })
    .from(instances)
    .where(eq(instances.customerId, customerId))
    .all()
    .map((row) => row.id);
  if (ids.length === 0) return [];
  return runtime.db
    .select({ id: operations.id, operation: operations.operation })
    .from(operations)
    .where(inArray(operations.instanceId, ids))
    .orderBy(operations.createdAt, operations.seq)
    .all();
}

export interface StandardEventOptions {
  type?: string;
  customerId: string;
  subscriptionId: string;
  /** Creation time of the event; default now. */
  occurredAt?: Date;
}

/** Our Standard Webhooks payload (see docs/webhooks.md). */
export function standardPayload(options: StandardEventOptions): string {
  return JSON.stringify({
    type: options.type ?? "subscription.active",
    timestamp: (options.occurredAt ?? new Date()).toISOString(),
    data: { id: options.subscriptionId, customer_id: options.customerId },
  });
}

/** Signed as a Standard Webhooks sender signs: `webhook-*` headers, one signature per secret (rotation). */
export function signStandard(
  body: string,
  secrets: readonly string[],
  options: { id?: string; signedAt?: Date } = {},
): Delivery {
  const id = options.id ?? `msg_${randomBytes(8).toString("hex")}`;
  const signedAt = options.signedAt ?? new Date();
  const signature = secrets.map((secret) => new Webhook(secret).sign(id, signedAt, body)).join(" ");
  return {
    body,
    headers: {
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(signedAt.getTime() / 1000)),
      "webhook-signature": signature,
    },
  };
}

export interface StripeEventOptions {
  type?: string;
  id?: string;
  customerId: string;
  subscriptionId: string;
  status?: string;
  /** Creation time of the event; default now. */
  occurredAt?: Date;
}

export function stripePayload(options: StripeEventOptions): string {
  return JSON.stringify({
    id: options.id ?? `evt_${randomBytes(8).toString("hex")}`,
    object: "event",
    type: options.type ?? "customer.subscription.created",
    created: Math.floor((options.occurredAt ?? new Date()).getTime() / 1000),
    data: {
      object: {
        id: options.subscriptionId,
        object: "subscription",
        status: options.status ?? "active",
        metadata: { customer_id: options.customerId },
      },
    },
  });
}

const stripeCrypto = Stripe.createSubtleCryptoProvider();

/** Signed with stripe's own test helper; several secrets give several v1= entries (rotation). */
export async function signStripe(
  body: string,
  secrets: readonly string[],
  options: { signedAt?: Date } = {},
): Promise<Delivery> {
  const timestamp = Math.floor((options.signedAt ?? new Date()).getTime() / 1000);
  const headers = await Promise.all(
    secrets.map((secret) =>
      Stripe.webhooks.generateTestHeaderStringAsync({
        payload: body,
        secret,
        timestamp,
        cryptoProvider: stripeCrypto,
      }),
    ),
  );
  const signatures = headers.map((header) => header.slice(header.indexOf(",") + 1));
  return { body, headers: { "stripe-signature": [`t=${timestamp}`, ...signatures].join(",") } };
}

/** Six minutes ago: beyond both providers' 5-minute tolerance. */
export const expiredDate = () => new Date(Date.now() - 6 * 60 * 1000);

/** Runs `use` against a second API server's public listener (same database and broker), with `overrides` on the config. */
export async function withApiServer(
  world: WebhookWorld,
  overrides: Partial<Config>,
  use: (url: string) => Promise<void>,
): Promise<void> {
  const { runtime, config } = world;
  const api = createApiServer({
    config: { ...config, ...overrides },
    db: runtime.db,
    queue: runtime.queue,
    log: createLogger({ level: "silent" }),
    metrics: createMetrics(),
    port: 0,
    publicPort: 0,
  });
  try {
    await use(api.publicUrl);
  } finally {
    await api.stop(100);
  }
}

export const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

/** Fresh customers with a subscription each, `<prefix>-cust-N` / `sub_<prefix>_N`; registered unless told otherwise. */
export function customerMaker(
  world: { readonly current: WebhookWorld },
  prefix: string,
): (registered?: boolean) => { customerId: string; subscriptionId: string } {
  let seq = 0;
  return (registered = true) => {
    const customerId = `${prefix}-cust-${++seq}`;
    if (registered) world.current.register(customerId);
    return { customerId, subscriptionId: `sub_${prefix}_${seq}` };
  };
}
