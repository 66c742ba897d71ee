import { describe, expect, test } from "bun:test";
import { createMetrics } from "../../core/metrics.ts";

describe("createMetrics", () => {
  test("counters render HELP and TYPE lines and one sample per label combination", async () => {
    const metrics = createMetrics();
    const requests = metrics.counter({
      name: "http_requests_total",
      help: "HTTP requests by route template and status.",
      labelNames: ["route", "status"],
    });
    requests.inc({ route: "/healthz", status: 200 });
    requests.inc({ route: "/healthz", status: 200 });
    requests.inc({ route: "/instances/:id", status: 404 }, 3);
    expect(await metrics.render()).toBe(
      [
        "# HELP http_requests_total HTTP requests by route template and status.",
        "# TYPE http_requests_total counter",
        'http_requests_total{route="/healthz",status="200"} 2',
        'http_requests_total{route="/instances/:id",status="404"} 3',
        "",
      ].join("\n"),
    );
  });

  test("label values and help text are escaped", async () => {
    const metrics = createMetrics();
    const errors = metrics.counter({
      name: "errors_total",
      help: 'a \\ b\nsecond "line"',
      labelNames: ["why"],
    });
    errors.inc({ why: 'said "no"\\\nthen left' });
    expect(await metrics.render()).toBe(
      [
        '# HELP errors_total a \\\\ b\\nsecond "line"',
        "# TYPE errors_total counter",
        'errors_total{why="said \\"no\\"\\\\\\nthen left"} 1',
        "",
      ].join("\n"),
    );
  });

  test("histograms render cumulative buckets, +Inf, sum and count", async () => {
    const metrics = createMetrics();
    const durations = metrics.histogram({
      name: "step_duration_seconds",
      help: "Step attempt durations.",
      labelNames: ["step"],
      buckets: [0.1, 1, 5],
    });
    for (const seconds of [0.05, 0.1, 0.5, 2, 30]) durations.observe({ step: "create" }, seconds);
    expect(await metrics.render()).toBe(
      [
        "# HELP step_duration_seconds Step attempt durations.",
        "# TYPE step_duration_seconds histogram",
        'step_duration_seconds_bucket{le="0.1",step="create"} 2',
        'step_duration_seconds_bucket{le="1",step="create"} 3',
        'step_duration_seconds_bucket{le="5",step="create"} 4',
        'step_duration_seconds_bucket{le="+Inf",step="create"} 5',
        'step_duration_seconds_sum{step="create"} 32.65',
        'step_duration_seconds_count{step="create"} 5',
        "",
      ].join("\n"),
    );
  });

  test("a histogram timer observes elapsed seconds", async () => {
    const metrics = createMetrics();
    const durations = metrics.histogram({ name: "wait_seconds", help: "Waits.", buckets: [60] });
    const stop = durations.startTimer({});
    await Bun.sleep(5);
    const seconds = stop();
    expect(seconds).toBeGreaterThan(0);
    expect(await metrics.render()).toContain(`wait_seconds_sum ${seconds}\nwait_seconds_count 1\n`);
  });

  test("gauges set, move and refresh through collect at render time", async () => {
    const metrics = createMetrics();
    const parked = metrics.gauge({
      name: "jobs_parked",
      help: "Jobs waiting for a signal.",
      labelNames: ["queue"],
    });
    parked.set({ queue: "provision" }, 4);
    parked.inc({ queue: "provision" });
    parked.dec({ queue: "provision" }, 2);
    let reads = 0;
    metrics.gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory.",
      collect: (memory) => memory.set({}, ++reads * 1024),
    });
    expect(await metrics.render()).toContain('jobs_parked{queue="provision"} 3\n');
    expect(await metrics.render()).toContain("process_resident_memory_bytes 2048\n");
  });

  test("an async collect is awaited before the gauge renders", async () => {
    const metrics = createMetrics();
    metrics.gauge({
      name: "remote_depth",
      help: "Read from elsewhere at scrape time.",
      collect: async (depth) => {
        await Bun.sleep(5);
        depth.set({}, 7);
      },
    });
    expect(await metrics.render()).toContain("remote_depth 7\n");
  });

  test("histograms observe through collect at render time, before they render", async () => {
    const metrics = createMetrics();
    let finished = [0.5];
    metrics.histogram({
      name: "rows_seconds",
      help: "Rows read at render.",
      buckets: [1],
      collect: (rows) => {
        for (const seconds of finished) rows.observe({}, seconds);
        finished = [];
      },
    });
    expect(await metrics.render()).toContain("rows_seconds_count 1\n");
    expect(await metrics.render()).toContain("rows_seconds_count 1\n");
  });

  test("unlabelled metrics show 0 before their first update; labelled ones show nothing", async () => {
    const metrics = createMetrics();
    metrics.counter({ name: "boots_total", help: "Boots." });
    metrics.counter({ name: "failures_total", help: "Failures.", labelNames: ["code"] });
    expect(await metrics.render()).toBe(
      [
        "# HELP boots_total Boots.",
        "# TYPE boots_total counter",
        "boots_total 0",
        "",
        "# HELP failures_total Failures.",
        "# TYPE failures_total counter",
        "",
      ].join("\n"),
    );
  });

  test("special values use Prometheus spellings", async () => {
    const metrics = createMetrics();
    const gauge = metrics.gauge({ name: "odd", help: "Odd values.", labelNames: ["kind"] });
    gauge.set({ kind: "nan" }, Number.NaN);
    gauge.set({ kind: "up" }, Number.POSITIVE_INFINITY);
    gauge.set({ kind: "down" }, Number.NEGATIVE_INFINITY);
    const text = await metrics.render();
    // prom-client spells it Nan; Prometheus parses the value case-insensitively.
    expect(text).toContain('odd{kind="nan"} Nan\n');
    expect(text).toContain('odd{kind="up"} +Inf\n');
    expect(text).toContain('odd{kind="down"} -Inf\n');
  });

  test("process metrics are the true ones only, on request", async () => {
    const text = await createMetrics({ processMetrics: true }).render();
    const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
    expect(rss).toBeGreaterThan(process.memoryUsage().rss / 2);
    expect(rss).toBeLessThan(process.memoryUsage().rss * 2);
    expect(text).toMatch(/^process_open_fds [1-9]\d*$/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).not.toContain("process_heap_bytes");
    expect(text).not.toContain("nodejs_");
    expect(await createMetrics().render()).not.toContain("process_");
  });

  test("programming mistakes throw at once", async () => {
    const metrics = createMetrics();
    const counter = metrics.counter({ name: "c_total", help: "c", labelNames: ["a"] });
    expect(() => metrics.counter({ name: "c_total", help: "again" })).toThrow("already defined");
    expect(() => metrics.counter({ name: "bad-name", help: "x" })).toThrow("Invalid metric name");
    expect(() => metrics.histogram({ name: "h", help: "x", labelNames: ["le"] })).toThrow("reserved label");
    expect(() => metrics.histogram({ name: "h2", help: "x", buckets: [1, 1] })).toThrow("ascending");
    expect(() => metrics.counter({ name: "bad_label_total", help: "x", labelNames: ["a-b"] })).toThrow(
      "Invalid label name",
    );
    expect(() => counter.inc({ a: "x" }, -1)).toThrow("only increase");
    expect(() => counter.inc()).toThrow("needs labels [a]");
    expect(() => counter.inc({ a: "x", b: "y" } as { a: string })).toThrow("needs labels [a]");
  });
});
