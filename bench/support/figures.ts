/** What every benchmark module prints: named figures, some with a target they must not exceed. */

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** The figure must be at most this. */
  target: number;
}

/** A figure; without `target` it is reported but not judged. */
export function figure(
  name: string,
  value: number,
  unit: string,
  target = Number.POSITIVE_INFINITY,
): BenchFigure {
  return { name, value, unit, target };
}

/** Nearest-rank percentile; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

/** Prints the figures under `title`; returns whether every target was met. */
export function printFigures(title: string, figures: readonly BenchFigure[]): boolean {
  console.log(title);
  let met = true;
  for (const item of figures) {
    const hasTarget = Number.isFinite(item.target);
    const ok = !hasTarget || item.value <= item.target;
    met &&= ok;
    const target = hasTarget ? ` (target <= ${item.target} ${item.unit}: ${ok ? "met" : "MISSED"})` : "";
    console.log(`  ${item.name}: ${item.value.toFixed(1)} ${item.unit}${target}`);
  }
  return met;
}
