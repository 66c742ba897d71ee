/**
 * Webhook intake benchmark: a lean load generator (support/http-load.ts) with 32 keep-alive connections against a real API process and
 * broker process on this machine, posting pre-signed Standard Webhooks for registered customers, each of
 * which ends in a real durable enqueue. Once with unique events, once with 30% duplicates.
 * `bun run bench webhooks`.
 */
import { Queue } from "bunqueue/client";
import { loadConfig } from "../core/config.ts";
import { createSealer } from "../core/secrets.ts";
import { appDatabasePath, type Db, openDatabase } from "../db/index.ts";
import { createCustomerStore } from "../domain/customers.ts";
import { customerSecrets } from "../harness/customers/fixtures.ts";
import { createTestStack, type TestStack } from "../harness/support/processes.ts";
import { type Delivery, newWebhookSecret, signStandard, standardPayload } from "../harness/webhooks/world.ts";
import { operationsQueueName } from "../queue/payload.ts";
import { type BenchFigure, figure, percentile, printFigures } from "./support/figures.ts";
import { runLoad } from "./support/http-load.ts";

const CONNECTIONS = 32;
const WARMUP_EVENTS = 1000;
const MEASURED_EVENTS = 8000;
const DUPLICATE_SHARE = 0.3;
const TARGET_PER_SECOND = 2000;
const TARGET_P99_MS = 25;

interface RunResult {
  latenciesMs: number[];
  seconds: number;
  statuses: Map<string, number>;
  /** CPU the API process spent during the run, in ms. */
  apiCpuMs: number;
}

export async function runWebhooksBench(): Promise<BenchFigure[]> {
  const secret = newWebhookSecret();
  // LOG_LEVEL info, as production runs it: two log lines per webhook are part of the cost.
  const stack = await createTestStack({ env: { STANDARD_WEBHOOK_SECRET: secret, LOG_LEVEL: "info" } });
  try {
    await stack.start("broker");
    await stack.start("api");
    const db = openDatabase(appDatabasePath(stack.dataDir));
    try {
      const register = registrar(db, stack);
      const deliveries = (prefix: string, count: number) =>
        Array.from({ length: count }, (_, i) => webhookFor(register(`${prefix}-${i}`), secret));
      const target = {
        url: `${stack.publicApiUrl}/v1/webhooks/standard`,
        apiPid: stack.running("api")?.pid ?? 0,
      };
      await post(target, deliveries("warmup", WARMUP_EVENTS));
      const unique = await post(target, deliveries("unique", MEASURED_EVENTS));
      const uniqueCount = Math.round(MEASURED_EVENTS * (1 - DUPLICATE_SHARE));
      const withDuplicates = await post(
        target,
        withRedeliveries(deliveries("dup", uniqueCount), MEASURED_EVENTS),
      );
      const jobs = await waitingJobs(stack);
      console.log(
        `  statuses: unique ${describe(unique.statuses)}; with duplicates ${describe(withDuplicates.statuses)}; ` +
          `broker jobs waiting ${jobs} (expected ${WARMUP_EVENTS + MEASURED_EVENTS + uniqueCount})`,
      );
      const failure = stack.logs("api").find((line) => line.json?.msg === "payment webhook not applied");
      if (failure !== undefined) console.log(`  first 503's cause: ${failure.text.slice(0, 600)}`);
      return [...figuresOf("unique events", unique), ...figuresOf("30% duplicates", withDuplicates)];
    } finally {
      db.$client.close();
    }
  } finally {
    await stack.dispose();
  }
}

/** Registers customers in the API's database file, as the registration route would. */
function registrar(db: Db, stack: TestStack): (customerId: string) => string {
  const store = createCustomerStore({ db, sealer: createSealer(loadConfig(stack.env).secretsKeys) });
  return (customerId) => {
    store.upsert(customerId, customerSecrets(customerId));
    return customerId;
  };
}

function webhookFor(customerId: string, secret: string): Delivery {
  return signStandard(standardPayload({ customerId, subscriptionId: `sub_${customerId}` }), [secret]);
}

/** `total` deliveries: every unique one once, and evenly spread redeliveries of one sent shortly before. */
function withRedeliveries(unique: readonly Delivery[], total: number): Delivery[] {
  const extra = total - unique.length;
  const all: Delivery[] = [];
  for (const [i, delivery] of unique.entries()) {
    all.push(delivery);
    const due = Math.floor(((i + 1) * extra) / unique.length) - Math.floor((i * extra) / unique.length);
    if (due > 0) all.push(unique[Math.max(0, i - 10)] as Delivery);
  }
  return all;
}

/** CONNECTIONS keep-alive connections, each posting the next delivery as soon as its previous answer arrived. */
async function post(
  { url, apiPid }: { url: string; apiPid: number },
  deliveries: readonly Delivery[],
): Promise<RunResult> {
  const latenciesMs: number[] = [];
  const statuses = new Map<string, number>();
  const { hostname, port, pathname } = new URL(url);
  const cpuBefore = await cpuMsOf(apiPid);
  const seconds = await runLoad({
    host: hostname,
    port: Number(port),
    connections: CONNECTIONS,
    requests: deliveries.map((delivery) => ({
      method: "POST",
      path: pathname,
      headers: { "content-type": "application/json", ...delivery.headers },
      body: delivery.body,
    })),
    onAnswer: ({ status, body, latencyMs }) => {
      latenciesMs.push(latencyMs);
      const answer = JSON.parse(body) as { status?: string; code?: string };
      const key = `${status} ${answer.status ?? answer.code}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    },
  });
  return { latenciesMs, seconds, statuses, apiCpuMs: (await cpuMsOf(apiPid)) - cpuBefore };
}

/** User + system CPU of a process so far, in ms, from /proc (clock ticks of 10 ms). */
async function cpuMsOf(pid: number): Promise<number> {
  const fields = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function figuresOf(label: string, run: RunResult): BenchFigure[] {
  const perSecond = run.latenciesMs.length / run.seconds;
  return [
    figure(`${label}: verified webhooks/s (${CONNECTIONS} connections)`, perSecond, "/s"),
    // The figures module judges upper bounds: at least 2000/s is at most 0.5 ms of wall time per webhook.
    figure(`${label}: wall time per webhook`, 1000 / perSecond, "ms", 1000 / TARGET_PER_SECOND),
    figure(`${label}: latency p50`, percentile(run.latenciesMs, 50), "ms"),
    figure(`${label}: latency p99`, percentile(run.latenciesMs, 99), "ms", TARGET_P99_MS),
    // The API is one JavaScript thread: this bounds its rate at 1000 / (ms per webhook) whatever the load.
    figure(`${label}: API process CPU per webhook`, run.apiCpuMs / run.latenciesMs.length, "ms"),
  ];
}

function describe(statuses: Map<string, number>): string {
  return [...statuses].map(([key, count]) => `${key}: ${count}`).join(", ");
}

async function waitingJobs(stack: TestStack): Promise<number> {
  const { BROKER_PORT, BROKER_TOKEN } = stack.env;
  const broker = new Queue(operationsQueueName, {
    connection: { host: "127.0.0.1", port: Number(BROKER_PORT), token: BROKER_TOKEN ?? "" },
  });
  try {
    return (await broker.getJobCountsAsync()).waiting;
  } finally {
    await broker.disconnect();
  }
}

if (import.meta.main) {
  const met = printFigures("webhooks", await runWebhooksBench());
  process.exit(met ? 0 : 1);
}
