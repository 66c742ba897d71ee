/**
 * Where a fleet run's request budget went, slice by slice: the requests the simulator served (by kind),
 * the callbacks and the completions, and how much of the refill went unspent. Printed by bench/fleet.ts
 * so a shortfall from the ideal names its cause.
 */
import type { SimRequestRecord } from "../../sim/index.ts";

export interface TimelineInput {
  startedAt: number;
  /** Epoch ms of every callback received and every completion. */
  callbacks: readonly number[];
  completions: readonly number[];
  requests: readonly SimRequestRecord[];
  /** Requests all projects get back per ms, together. */
  refillPerMs: number;
  sliceMs: number;
  /** What a slice's label counts in (e.g. budget-hours) and how many ms one of it lasts. */
  unitMs: number;
}

const KINDS: readonly [string, (r: SimRequestRecord) => boolean][] = [
  ["ssh_keys", (r) => r.method === "POST" && r.path === "/ssh_keys"],
  ["servers", (r) => r.method === "POST" && r.path === "/servers"],
  ["protect", (r) => r.path.endsWith("/change_protection")],
  ["lists", (r) => r.method === "GET" && !r.path.includes("{id}")],
  ["other", () => true],
];

/** Requests the refill offered that nothing asked for, summed over the slices. */
export function unspentRequests(input: TimelineInput): number {
  return slices(input).reduce((sum, slice) => sum + Math.max(0, slice.offered - slice.requests.length), 0);
}

export function formatTimeline(input: TimelineInput): string {
  const header = `from (h)  requests ${KINDS.map(([kind]) => kind.padStart(8)).join(" ")}  unspent  callbacks  ready`;
  const rows = slices(input).map((slice) => {
    const byKind = new Array<number>(KINDS.length).fill(0);
    for (const request of slice.requests) {
      const index = KINDS.findIndex(([, test]) => test(request));
      byKind[index] = (byKind[index] ?? 0) + 1;
    }
    const unspent = Math.max(0, Math.round(slice.offered - slice.requests.length));
    return [
      (slice.from / input.unitMs).toFixed(3).padStart(8),
      String(slice.requests.length).padStart(9),
      ...byKind.map((n) => String(n).padStart(8)),
      String(unspent).padStart(8),
      String(slice.callbacks).padStart(10),
      String(slice.ready).padStart(6),
    ].join(" ");
  });
  return [header, ...rows].join("\n");
}

interface Slice {
  from: number;
  requests: SimRequestRecord[];
  offered: number;
  callbacks: number;
  ready: number;
}

function slices(input: TimelineInput): Slice[] {
  const end = Math.max(...input.completions, input.startedAt);
  const result: Slice[] = [];
  for (let from = 0; input.startedAt + from < end; from += input.sliceMs) {
    const to = Math.min(from + input.sliceMs, end - input.startedAt);
    const inSlice = (at: number) => at - input.startedAt >= from && at - input.startedAt < to;
    result.push({
      from,
      requests: input.requests.filter((r) => inSlice(r.at)),
      offered: (to - from) * input.refillPerMs,
      callbacks: input.callbacks.filter(inSlice).length,
      ready: input.completions.filter(inSlice).length,
    });
  }
  return result;
}

/** Every request of the run counted by method, path template and status, most frequent first. */
export function formatRequestCounts(requests: readonly SimRequestRecord[]): string {
  const counts = new Map<string, number>();
  for (const r of requests) {
    const key = `${r.method} ${r.path} ${r.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${String(count).padStart(6)}  ${key}`)
    .join("\n");
}
