/**
 * Where a real provision's time went, from three clocks: the control plane's (operation, step runs, the
 * callback's arrival), Hetzner's (the create_server action's start and finish) and the machine's own (when
 * its kernel started, when first-boot setup wrote its marker). A pure function: the smoke gathers the
 * instants, this lays them out; an instant nobody could measure leaves its phases out, said so in a note.
 */

/** Every instant in epoch ms; null when it could not be measured. */
export interface ProvisionInstants {
  /** The provision was requested (operation created). */
  requested: number;
  /** Step runs of the operation's last run: first start and last finish per step. */
  steps: ReadonlyMap<string, { startedAt: number; finishedAt: number }>;
  /** Hetzner's create_server action: started and finished (Hetzner's clock). */
  createAction: { started: number; finished: number } | null;
  /** The machine's kernel started (its clock, from /proc/uptime). */
  machineBooted: number | null;
  /** First-boot setup finished (its clock, the setup marker). */
  setupCompleted: number | null;
  /** The cloud-init callback reached the API. */
  callbackReceived: number | null;
  /** The operation finished. */
  finished: number;
}

export interface PhaseRow {
  phase: string;
  ms: number;
  /** Whose clock measured it. */
  source: "control plane" | "hetzner" | "machine" | "mixed";
}

export interface Timeline {
  rows: PhaseRow[];
  totalMs: number;
  notes: string[];
}

/** The phases in order: create action, boot, first-boot work, callback, injection, verify, and the rest. */
export function provisionTimeline(at: ProvisionInstants): Timeline {
  const rows: PhaseRow[] = [];
  const notes: string[] = [];
  const step = (name: string) => at.steps.get(name);
  const span = (phase: string, from: number, to: number, source: PhaseRow["source"]) =>
    rows.push({ phase, ms: Math.max(0, Math.round(to - from)), source });

  const create = step("create-server");
  if (create) span("before create (key, firewall, queue)", at.requested, create.startedAt, "control plane");
  const action = at.createAction;
  if (action) span("create action (create_server)", action.started, action.finished, "hetzner");
  else notes.push("create action: Hetzner's action timestamps were not available");

  // The machine's clock is trusted only when it places the boot after the create action began.
  const booted =
    action && at.machineBooted !== null && at.machineBooted >= action.started ? at.machineBooted : null;
  if (at.machineBooted !== null && booted === null)
    notes.push("boot: the machine's uptime predates the server");
  const afterCreate = action?.finished ?? create?.finishedAt ?? null;
  if (afterCreate !== null && booted !== null) span("boot (to kernel start)", afterCreate, booted, "mixed");
  const workFrom = booted ?? afterCreate;
  if (workFrom !== null && at.setupCompleted !== null) {
    span(
      booted === null ? "boot + first-boot work" : "first-boot work (cloud-init)",
      workFrom,
      at.setupCompleted,
      "machine",
    );
  } else {
    notes.push("first-boot work: the machine's setup marker was not available");
  }
  const callbackFrom = at.setupCompleted ?? workFrom;
  if (callbackFrom !== null && at.callbackReceived !== null) {
    span(
      at.setupCompleted === null ? "boot to callback" : "callback (phone_home)",
      callbackFrom,
      at.callbackReceived,
      "mixed",
    );
  }
  const waited = step("await-cloud-init");
  if (waited && at.callbackReceived !== null)
    span("callback to worker", at.callbackReceived, waited.finishedAt, "control plane");
  const inject = step("inject-secrets");
  if (inject)
    span(
      "injection (first-boot check, secrets, start)",
      inject.startedAt,
      inject.finishedAt,
      "control plane",
    );
  const verify = step("verify");
  if (verify) {
    span("verify (settle, unit active, login)", verify.startedAt, verify.finishedAt, "control plane");
    span("finalize", verify.finishedAt, at.finished, "control plane");
  }
  return { rows, totalMs: at.finished - at.requested, notes };
}

/** A fixed-width table of the timeline, then its notes; "ready in 90 s?" answered on the last line. */
export function formatTimeline(timeline: Timeline, readyTargetMs: number): string {
  const cells = timeline.rows.map((row) => [row.phase, seconds(row.ms), row.source]);
  const total = ["total (request to ready)", seconds(timeline.totalMs), ""];
  const all = [["phase", "s", "clock"], ...cells, total];
  const widths = [0, 1, 2].map((column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  const line = (row: readonly string[]) =>
    `  ${(row[0] ?? "").padEnd(widths[0] ?? 0)}  ${(row[1] ?? "").padStart(widths[1] ?? 0)}  ${row[2] ?? ""}`.trimEnd();
  const rule = `  ${widths.map((width) => "-".repeat(width)).join("  ")}`;
  const verdict =
    timeline.totalMs <= readyTargetMs
      ? `ready in ${seconds(timeline.totalMs)} s: within the ${readyTargetMs / 1000} s target`
      : `ready in ${seconds(timeline.totalMs)} s: OVER the ${readyTargetMs / 1000} s target`;
  return [
    "provision phases (real machine)",
    line(all[0] ?? []),
    rule,
    ...cells.map(line),
    rule,
    line(total),
    ...timeline.notes.map((note) => `  note: ${note}`),
    verdict,
  ].join("\n");
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
