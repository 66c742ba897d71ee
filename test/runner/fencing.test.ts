import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { pollUntil } from "../../core/wait.ts";
import { instances, operations } from "../../db/schema.ts";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import { LeaseLostError } from "../../jobs/errors.ts";
import type { JobDefinition } from "../../jobs/step.ts";
import { acquireLease, fence, releaseLease, releaseLeasesOf } from "../../worker/runner/lease.ts";
import { gate, recordingStep, stepRunsOf, waitForOperation } from "./steps.ts";

const runtime = runtimePerTest();

function leaseOf(result: ReturnType<typeof acquireLease>) {
  if (!("lease" in result)) throw new Error("expected to get the lease");
  return result.lease;
}

describe("fencing lease", () => {
  test("the token grows on every acquisition and a stale holder's write is rejected", async () => {
    await runtime.current.queue.enqueue("unused", "inst-fence");
    const now = Date.now();
    const first = leaseOf(acquireLease(runtime.current.db, "inst-fence", "w1/a", 1000, now));
    expect(acquireLease(runtime.current.db, "inst-fence", "w2/b", 1000, now + 10)).toEqual({
      heldUntil: now + 1000,
    });
    // After expiry a second holder takes over with a higher token.
    const second = leaseOf(acquireLease(runtime.current.db, "inst-fence", "w2/b", 1000, now + 2000));
    expect(second.token).toBe(first.token + 1);
    expect(() => fence(runtime.current.db, first, now + 2001, () => "written")).toThrow(LeaseLostError);
    expect(fence(runtime.current.db, second, now + 2001, () => "written")).toBe("written");
    releaseLease(runtime.current.db, first);
    const row = runtime.current.db.select().from(instances).where(eq(instances.id, "inst-fence")).get();
    expect(row?.leaseOwner).toBe("w2/b");
  });

  test("a stopping worker releases only its own leases, whatever characters its id contains", async () => {
    await runtime.current.queue.enqueue("unused", "inst-mine");
    await runtime.current.queue.enqueue("unused", "inst-theirs");
    const now = Date.now();
    leaseOf(acquireLease(runtime.current.db, "inst-mine", "host_1:7:ab/token", 60_000, now));
    leaseOf(acquireLease(runtime.current.db, "inst-theirs", "hostX1:7:ab/token", 60_000, now));
    expect(releaseLeasesOf(runtime.current.db, "host_1:7:ab")).toBe(1);
    const owners = runtime.current.db
      .select({ id: instances.id, owner: instances.leaseOwner })
      .from(instances)
      .all();
    expect(owners).toEqual(
      expect.arrayContaining([
        { id: "inst-mine", owner: null },
        { id: "inst-theirs", owner: "hostX1:7:ab/token" },
      ]),
    );
  });

  test("a runner whose lease was taken over writes nothing for its step and the job resumes later", async () => {
    const events: string[] = [];
    const started = gate();
    const finish = gate();
    let calls = 0;
    const job: JobDefinition = {
      name: "demo",
      steps: [
        recordingStep(events, "long", {
          body: async () => {
            calls += 1;
            if (calls === 1) {
              started.open();
              await finish.opened;
            }
            return { call: calls };
          },
        }),
      ],
    };
    await runtime.current.startWorker([job]);
    const { jobId } = await runtime.current.queue.enqueue("demo", "inst-stale");
    await started.opened;
    // Simulate a second runner on the same instance (as after a broker restart) that sees the lease expired.
    const later = Date.now() + runtime.current.config.leaseTtlMs + 1;
    const intruder = leaseOf(acquireLease(runtime.current.db, "inst-stale", "intruder/x", 60_000, later));
    finish.open();
    await waitForLine((line) => line.outcome === "lease_lost");
    const rows = stepRunsOf(runtime.current.db, jobId);
    expect(rows.map((row) => row.status)).toEqual(["running"]);
    expect(runtime.current.db.select().from(operations).where(eq(operations.id, jobId)).get()?.status).toBe(
      "running",
    );
    // The intruder goes away; the parked job takes the lease again and completes the step once more.
    releaseLease(runtime.current.db, intruder);
    await waitForOperation(runtime.current.db, jobId, "succeeded");
    const after = stepRunsOf(runtime.current.db, jobId);
    expect(after.map((row) => row.status)).toEqual(["interrupted", "succeeded"]);
    expect(JSON.parse(after[1]?.output ?? "null")).toEqual({ call: 2 });
  });

  test("two operations on the same instance never run steps at the same time", async () => {
    let running = 0;
    let maxRunning = 0;
    const busy = async () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await Bun.sleep(150);
      running -= 1;
      return null;
    };
    const events: string[] = [];
    await runtime.current.startWorker([
      {
        name: "first",
        steps: [recordingStep(events, "f1", { body: busy }), recordingStep(events, "f2", { body: busy })],
      },
      {
        name: "second",
        steps: [recordingStep(events, "s1", { body: busy }), recordingStep(events, "s2", { body: busy })],
      },
    ]);
    const a = await runtime.current.queue.enqueue("first", "inst-shared");
    const b = await runtime.current.queue.enqueue("second", "inst-shared");
    await waitForOperation(runtime.current.db, a.jobId, "succeeded");
    await waitForOperation(runtime.current.db, b.jobId, "succeeded");
    expect(maxRunning).toBe(1);
    expect(events).toHaveLength(4);
  });
});

async function waitForLine(predicate: (line: Record<string, unknown>) => boolean): Promise<void> {
  await pollUntil(() => runtime.current.logs.some(predicate), {
    timeoutMs: 10_000,
    description: "a matching log line",
  });
}
