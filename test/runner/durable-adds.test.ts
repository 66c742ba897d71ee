/** Group commit of durable adds against a real broker: concurrent adds share round trips, none is lost or doubled. */
import { describe, expect, test } from "bun:test";
import { type JobOptions, Queue } from "bunqueue/client";
import { runtimePerTest } from "../../harness/runner/harness.ts";
import { type DurableAdd, durableAdder } from "../../queue/durable-adds.ts";

const runtime = runtimePerTest();

/** A real broker client whose bulk adds are counted: the round trips the adder made. */
function countedQueue(name: string) {
  const { brokerHost: host, brokerPort: port, brokerToken: token } = runtime.current.config;
  const queue = new Queue<{ n: number }>(name, { connection: { host, port, token } });
  const batches: number[] = [];
  const counted = {
    addBulk: (jobs: { name: string; data: { n: number }; opts?: JobOptions }[]) => {
      batches.push(jobs.length);
      return queue.addBulk(jobs);
    },
  };
  return { queue, batches, add: durableAdder(counted) };
}

const job = (n: number, id = `job-${n}`): DurableAdd<{ n: number }> => ({
  name: "demo",
  data: { n },
  opts: { jobId: id },
});

describe("durableAdder", () => {
  test("one add alone goes at once, in a batch of its own", async () => {
    const { queue, batches, add } = countedQueue("adds-alone");
    try {
      await add(job(1));
      expect(batches).toEqual([1]);
      expect((await queue.getWaitingAsync()).map((j) => j.id)).toEqual(["job-1"]);
    } finally {
      await queue.disconnect();
    }
  });

  test("300 concurrent adds all resolve in a few round trips, each job stored once", async () => {
    const { queue, batches, add } = countedQueue("adds-burst");
    try {
      await Promise.all(Array.from({ length: 300 }, (_, n) => add(job(n))));
      expect(batches.reduce((sum, size) => sum + size, 0)).toBe(300);
      expect(batches.length).toBeLessThan(10);
      const stored = (await queue.getWaitingAsync(0, 1000)).map((j) => j.id).sort();
      expect(stored).toEqual(Array.from({ length: 300 }, (_, n) => `job-${n}`).sort());
    } finally {
      await queue.disconnect();
    }
  });

  test("the same job id added concurrently is stored once, and every caller's add resolves", async () => {
    const { queue, add } = countedQueue("adds-same-id");
    try {
      await Promise.all(Array.from({ length: 20 }, (_, n) => add(job(n, "the-one"))));
      expect((await queue.getWaitingAsync()).map((j) => j.id)).toEqual(["the-one"]);
    } finally {
      await queue.disconnect();
    }
  });

  test("a batch the broker refuses rejects all its callers; the next add goes through", async () => {
    const { queue } = countedQueue("adds-refused");
    let refuse = true;
    const add = durableAdder<{ n: number }>({
      addBulk: (jobs) => {
        if (!refuse) return queue.addBulk(jobs);
        refuse = false;
        return Promise.reject(new Error("broker unavailable"));
      },
    });
    try {
      const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, n) => add(job(n))));
      expect(outcomes.filter((o) => o.status === "rejected").length).toBeGreaterThan(0);
      await add(job(7));
      const stored = (await queue.getWaitingAsync()).map((j) => j.id);
      expect(stored).toContain("job-7");
      const fulfilled = outcomes.flatMap((o, n) => (o.status === "fulfilled" ? [`job-${n}`] : []));
      expect(stored.sort()).toEqual([...fulfilled, "job-7"].sort());
    } finally {
      await queue.disconnect();
    }
  });
});
