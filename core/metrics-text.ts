/** The Prometheus text exposition format (version 0.0.4): escaping and line layout. */

/** Label name/value pairs in declaration order. */
export type LabelPairs = readonly (readonly [string, string])[];

/** `# HELP` and `# TYPE` lines followed by the family's samples. */
export function renderFamily(
  family: { name: string; help: string },
  type: "counter" | "gauge" | "histogram",
  samples: readonly string[],
): string {
  return `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${type}\n${samples.join("")}`;
}

/** One sample line, e.g. `http_requests_total{route="/healthz",status="200"} 3`. */
export function formatSample(name: string, pairs: LabelPairs, value: number): string {
  const labels = pairs.map(([label, text]) => `${label}="${escapeLabelValue(text)}"`).join(",");
  return `${name}${labels === "" ? "" : `{${labels}}`} ${formatValue(value)}\n`;
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeLabelValue(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
