/** How the demo shows an operation: one line per step event, and the phase timing table at the end. */
import type { OperationSummary, StepEvent } from "../domain/operation-progress.ts";

/** e.g. "  ✓ create-server (attempt 2) 512 ms" (since the step first started) or "  … await-cloud-init waiting". */
export function formatStepEvent(row: StepEvent): string {
  const what = row.kind === "compensate" ? `undo ${row.step}` : row.step;
  const attempt = row.attempt > 1 ? ` (attempt ${row.attempt})` : "";
  const duration = row.elapsedMs === null ? "" : ` ${row.elapsedMs} ms`;
  switch (row.status) {
    case "running":
      return `  ▸ ${what}${attempt} started`;
    case "waiting":
      return `  … ${what}${attempt} waiting`;
    case "succeeded":
      return `  ✓ ${what}${attempt}${duration}`;
    case "failed":
      return `  ✗ ${what}${attempt} failed${duration}: ${row.errorCode ?? "error"} ${row.errorMessage ?? ""}`.trimEnd();
    case "interrupted":
      return `  ! ${what}${attempt} interrupted`;
  }
}

/** A fixed-width table: phase, attempts, duration; then the request-to-finish total. */
export function formatPhaseTable(title: string, summary: OperationSummary): string {
  const header = ["phase", "attempts", "ms"] as const;
  const rows = summary.phases.map((phase) => [phase.step, String(phase.attempts), String(phase.durationMs)]);
  const total = ["total (request to finish)", "", summary.totalMs === null ? "-" : String(summary.totalMs)];
  const all = [[...header], ...rows, total];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  const line = (row: readonly string[]) =>
    `  ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join("  ")}`;
  const rule = `  ${widths.map((width) => "-".repeat(width)).join("  ")}`;
  return [title, line(header), rule, ...rows.map(line), rule, line(total)].join("\n");
}
