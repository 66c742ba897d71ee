/** Aligned plain-text tables for people: left-aligned text, right-aligned numbers, two spaces apart. */

/** A cell; numbers are right-aligned, null shows as "-". */
export type Cell = string | number | null;

/** Lines of a table with a header and a rule under it, each indented by two spaces. */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string[] {
  const text = (cell: Cell | undefined) => (cell === null || cell === undefined ? "-" : String(cell));
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => text(row[column]).length)));
  const numeric = header.map(
    (_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === "number"),
  );
  const line = (row: readonly Cell[]) =>
    `  ${header
      .map((_, column) => {
        const width = widths[column] ?? 0;
        return numeric[column] ? text(row[column]).padStart(width) : text(row[column]).padEnd(width);
      })
      .join("  ")
      .trimEnd()}`;
  const rule = `  ${widths.map((width) => "-".repeat(width)).join("  ")}`;
  return [line(header), rule, ...rows.map(line)];
}

/** `label  value` lines with the labels padded to one width. */
export function formatFields(fields: readonly (readonly [string, Cell])[]): string[] {
  const width = Math.max(...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `  ${label.padEnd(width)}  ${value === null ? "-" : String(value)}`);
}

/** "1 server", "2 servers"; null (not known yet) shows as "? servers". */
export function counted(n: number | null, noun: string): string {
  return `${n ?? "?"} ${noun}${n === 1 ? "" : "s"}`;
}
