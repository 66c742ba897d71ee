/**
 * `POST /v1/ops/reconcile` and `GET /v1/ops/sweeps/:id` on a real API server, broker, SQLite file and a
 * sweeper consuming the sweep queue against the simulator.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import type { ErrorBody } from "../../api/error-mapper.ts";
import { type ApiServer, createApiServer } from "../../api/server.ts";
import type { Config } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createMetrics } from "../../core/metrics.ts";
import { ownershipLabels, resourceNameFor } from "../../domain/ownership.ts";
import { startMachinelessSimulator } from "../../harness/reconcile/machineless-sim.ts";
import { simHetznerFor } from "../../harness/reconcile/sweep-world.ts";
import { type Runtime, startRuntime } from "../../harness/runner/harness.ts";
import { freePorts } from "../../harness/support/processes.ts";
import { readSweep, type SweepRecord } from "../../jobs/reconcile/sweep-record.ts";
import type { Simulator } from "../../sim/index.ts";
import { type RunningSweeper, startSweeper } from "../../worker/sweeper.ts";

setDefaultTimeout(60_000);

const OPS_TOKEN = "ops-token-for-the-reconcile-route-0123456789";
const log = createLogger({ level: "silent" });

let runtime: Runtime;
let sim: Simulator;
let api: ApiServer;
let sweeper: RunningSweeper | undefined;

function apiWith(config: Config): ApiServer {
  return createApiServer({
    config,
    db: runtime.db,
    queue: runtime.queue,
    log,
    metrics: createMetrics(),
    port: 0,
    publicPort: 0,
  });
}

beforeAll(async () => {
  runtime = await startRuntime({ collectLogs: false });
  sim = await startMachinelessSimulator({ timeScale: 0 });
  api = apiWith({ ...runtime.config, opsToken: OPS_TOKEN });
  // A zombie: our labels, an instance the database has never heard of.
  const response = await fetch(`${sim.endpoint}/servers`, {
    method: "POST",
    headers: { Authorization: `Bearer ${sim.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      name: resourceNameFor("inobodyknows"),
      server_type: "cx23",
      image: "ubuntu-24.04",
      labels: ownershipLabels("inobodyknows"),
    }),
  });
  expect(response.status).toBe(201);
});

afterAll(async () => {
  await sweeper?.stop();
  await api.stop(0);
  await sim.stop();
  await runtime.dispose();
});

function reconcile(body: string | undefined, headers: Record<string, string> = {}, server = api) {
  return server.handle(
    new Request("http://api/v1/ops/reconcile", {
      method: "POST",
      headers: { Authorization: `Bearer ${OPS_TOKEN}`, "Content-Type": "application/json", ...headers },
      body,
    }),
  );
}

const getSweep = (id: string, token = OPS_TOKEN) =>
  api.handle(
    new Request(`http://api/v1/ops/sweeps/${id}`, { headers: { Authorization: `Bearer ${token}` } }),
  );

test("without OPS_TOKEN configured both routes answer 503 not_configured", async () => {
  const unconfigured = apiWith(runtime.config);
  const response = await reconcile("{}", {}, unconfigured);
  expect(response.status).toBe(503);
  expect(await response.json()).toMatchObject({ code: "not_configured" });
  await unconfigured.stop(0);
});

test("a missing or wrong token is 401; a bad body is 422 naming the field, or 400 when not JSON", async () => {
  expect((await reconcile("{}", { Authorization: "Bearer wrong" })).status).toBe(401);
  expect((await getSweep("anything", "wrong")).status).toBe(401);
  const wrongType = await reconcile('{"dryRun":"yes"}');
  expect(wrongType.status).toBe(422);
  expect(await wrongType.json()).toMatchObject({
    code: "invalid_fields",
    message: expect.stringContaining("dryRun"),
  });
  const both = await reconcile('{"dryRun":true,"apply":true}');
  expect(both.status).toBe(422);
  expect(await both.json()).toMatchObject({ message: expect.stringContaining("a dry run cannot apply") });
  const unknownField = await reconcile('{"dry_run":true}');
  expect(unknownField.status).toBe(422);
  expect(((await unknownField.json()) as ErrorBody).message).toContain("dry_run");
  expect((await reconcile("[true]")).status).toBe(422);
  expect((await reconcile("{dryRun")).status).toBe(400);
});

test("with no sweeper yet, `Prefer: wait=0` answers 202 with the queued sweep", async () => {
  const response = await reconcile('{"dryRun":true}', { Prefer: "wait=0" });
  expect(response.status).toBe(202);
  expect(await response.json()).toMatchObject({
    trigger: "operator",
    dryRun: true,
    status: "queued",
    startedAt: null,
  });
});

test("a dry run answers 200 with the finished sweep record, which GET /v1/ops/sweeps/:id returns too", async () => {
  sweeper = await startSweeper({
    // The zombie was created moments ago: no grace, or the sweep would rightly spare it.
    config: { ...runtime.config, reconcileZombieGraceMs: 0 },
    db: runtime.db,
    log,
    metrics: createMetrics(),
    hetznerFor: simHetznerFor(sim),
  });
  const response = await reconcile(JSON.stringify({ dryRun: true }));
  expect(response.status).toBe(200);
  const record = (await response.json()) as SweepRecord;
  expect(record).toMatchObject({
    trigger: "operator",
    dryRun: true,
    status: "succeeded",
    serversSeen: 1,
    hetznerRequests: 1,
    skipped: null,
    error: null,
    decisions: [{ kind: "delete-zombie-server", instanceId: "inobodyknows", outcome: "planned" }],
  });
  expect(new Date(record.finishedAt ?? "").toISOString()).toBe(record.finishedAt ?? "");
  const read = await getSweep(record.id);
  expect(read.status).toBe(200);
  expect(await read.json()).toEqual(record);
  expect((await getSweep("no-such-sweep")).status).toBe(404);
});

test("an empty body is a real sweep (dryRun defaults to false)", async () => {
  const response = await reconcile(undefined);
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({
    dryRun: false,
    status: "succeeded",
    decisions: [{ kind: "delete-zombie-server", outcome: "applied" }],
  });
});

test("broker unreachable: 503 unavailable, and the sweep is recorded failed", async () => {
  const [closedPort] = await freePorts(1);
  const brokerless = apiWith({ ...runtime.config, opsToken: OPS_TOKEN, brokerPort: closedPort ?? 1 });
  const response = await reconcile("{}", {}, brokerless);
  expect(response.status).toBe(503);
  const body = (await response.json()) as ErrorBody;
  expect(body.code).toBe("unavailable");
  const sweepId = /sweep (\S+) was not queued/.exec(body.message)?.[1] ?? "";
  expect(readSweep(runtime.db, sweepId)).toMatchObject({
    status: "failed",
    error: { code: "broker_unavailable" },
  });
  await brokerless.stop(0);
});
