/** The ops API's lists and the instance view: shapes, keyset pages, filters, and every bad parameter named. */
import { describe, expect, test } from "bun:test";
import { opsApiForFile } from "./ops-api.ts";
import { SECRET_MARKERS, seedCapacityFailure, seedInstance, seedOperation } from "./seed.ts";

const world = opsApiForFile();
const T0 = Date.UTC(2026, 10, 26, 5, 0, 0);

describe("instances", () => {
  test("pages newest first with an opaque cursor, and filter by state", async () => {
    const { db } = world.runtime;
    const ids = [1, 2, 3, 4, 5].map((n) =>
      seedInstance(db, { createdAt: T0 + 60_000 + n, status: n % 2 === 0 ? "lost" : "deprovisioning" }),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "" : `&cursor=${cursor}`;
      const { status, body } = await world.ops.call("GET", `/v1/ops/instances?limit=2${query}`);
      expect(status).toBe(200);
      const items = body.items as { id: string }[];
      expect(items.length).toBeLessThanOrEqual(2);
      seen.push(...items.map((item) => item.id));
      cursor = body.nextCursor as string | null;
    } while (cursor !== null);
    expect(seen.slice(0, 5)).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);

    const lost = await world.ops.call("GET", "/v1/ops/instances?state=lost");
    expect((lost.body.items as { id: string; state: string }[]).map((i) => i.id)).toEqual(
      ids.filter((_, i) => i % 2 === 1).reverse(),
    );
    expect(lost.body.nextCursor).toBeNull();
  });

  test("an instance shows its customer, Hetzner ids, addresses, operations with steps, attempts and a timeline", async () => {
    const { id, op } = seedCapacityFailure(world.runtime.db, T0 + 120_000);
    const { status, body, text } = await world.ops.call("GET", `/v1/ops/instances/${id}`);
    expect(status).toBe(200);
    expect(body.instance).toMatchObject({
      id,
      customerId: "cust-detail",
      state: "failed",
      hetznerServerId: 42,
      sshKeyId: 7,
      firewallId: 9,
      ipv4: "127.1.0.9",
      errorCode: "no_capacity",
    });
    const [operation] = body.operations as Record<string, unknown>[];
    expect(operation).toMatchObject({
      id: op,
      operation: "provision",
      status: "failed",
      run: 1,
      durationMs: 900,
    });
    expect(operation?.steps).toEqual([
      {
        step: "ssh-key",
        status: "succeeded",
        attempts: 1,
        durationMs: 10,
        errorCode: null,
        errorMessage: null,
      },
      {
        step: "create-server",
        status: "failed",
        attempts: 2,
        durationMs: 150,
        errorCode: "no_capacity",
        errorMessage: "no capacity for cx23 in any of nbg1, fsn1, hel1",
      },
    ]);
    expect(operation?.attempts).toHaveLength(4);
    const timeline = body.timeline as { at: string; event: string }[];
    expect(timeline.map((e) => e.at)).toEqual([...timeline.map((e) => e.at)].sort());
    expect(timeline.map((e) => e.event)).toContain(
      "create-server attempt 2 failed after 50 ms: no_capacity no capacity for cx23 in any of nbg1, fsn1, hel1",
    );
    expect(timeline.at(-1)?.event).toBe("provision failed at create-server: no_capacity");
    for (const marker of SECRET_MARKERS) expect(text).not.toContain(marker);
  });

  test("an unknown instance is 404 unknown_instance", async () => {
    const { status, body } = await world.ops.call("GET", "/v1/ops/instances/inope");
    expect({ status, code: body.code }).toEqual({ status: 404, code: "unknown_instance" });
  });
});

describe("jobs", () => {
  test("failed by default, newest change first, with instance, step, error and when; paged", async () => {
    const { db } = world.runtime;
    for (const n of [1, 2, 3]) {
      const id = seedInstance(db, {
        createdAt: T0 + 200_000 + n,
        status: "failed",
        customerId: `cust-job-${n}`,
      });
      seedOperation(db, {
        instanceId: id,
        createdAt: T0 + 200_000 + n,
        updatedAt: T0 + 10_000_000 + n,
        finishedAt: T0 + 10_000_000 + n,
        status: "failed",
        errorStep: "verify",
        errorCode: "unit_not_active",
        errorMessage: "unit rachel8.service is failed, not active",
      });
    }
    const first = await world.ops.call("GET", "/v1/ops/jobs?limit=2");
    expect(first.status).toBe(200);
    const items = first.body.items as Record<string, unknown>[];
    expect(items.map((item) => item.customerId)).toEqual(["cust-job-3", "cust-job-2"]);
    expect(items[0]).toMatchObject({
      operation: "provision",
      status: "failed",
      errorStep: "verify",
      errorCode: "unit_not_active",
      instanceState: "failed",
      finishedAt: new Date(T0 + 10_000_003).toISOString(),
    });
    expect(String(items[0]?.jobId)).toStartWith("provision:");
    const second = await world.ops.call("GET", `/v1/ops/jobs?limit=2&cursor=${first.body.nextCursor}`);
    expect((second.body.items as Record<string, unknown>[])[0]?.customerId).toBe("cust-job-1");
    const succeeded = await world.ops.call("GET", "/v1/ops/jobs?status=succeeded");
    expect((succeeded.body.items as { status: string }[]).every((item) => item.status === "succeeded")).toBe(
      true,
    );
  });
});

describe("bad parameters are 400 invalid_parameter naming each one", () => {
  const cases: [string, string][] = [
    ["/v1/ops/instances?limit=0", "limit: must be an integer 1-200"],
    ["/v1/ops/instances?limit=201", "limit: must be an integer 1-200"],
    ["/v1/ops/instances?limit=ten", "limit: must be an integer 1-200"],
    ["/v1/ops/instances?state=sleeping", "state: must be one of new, provisioning, ready"],
    ["/v1/ops/instances?cursor=not-a-cursor", "cursor: not a cursor this API issued"],
    ["/v1/ops/instances?stat=ready", "stat: unknown parameter"],
    ["/v1/ops/instances?limit=1&limit=2", "limit: given more than once"],
    ["/v1/ops/jobs?status=broken", "status: must be one of queued, running, parked, succeeded, failed"],
    ["/v1/ops/status?verbose=1", "verbose: unknown parameter"],
    ["/v1/ops/instances/iabc?x=1", "x: unknown parameter"],
  ];
  for (const [path, named] of cases) {
    test(path, async () => {
      const { status, body } = await world.ops.call("GET", path);
      expect({ status, code: body.code }).toEqual({ status: 400, code: "invalid_parameter" });
      expect(String(body.message)).toContain(named);
    });
  }
});
