/**
 * One HTTP byte range (RFC 9110 §14), as a resumed download asks for it (`curl -C -`: `bytes=N-`). Anything
 * this does not understand, multiple ranges included, is ignored and the whole representation served,
 * which the RFC allows.
 */

export type ByteRange =
  /** Serve everything (no Range, or one to ignore). */
  | { kind: "whole" }
  /** Serve bytes start..end inclusive. */
  | { kind: "partial"; start: number; end: number }
  /** 416: the range lies wholly past the end. */
  | { kind: "unsatisfiable" };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * The range to serve of a `size`-byte representation whose strong validator is `etag`. An If-Range that
 * names another version asks for the whole thing.
 */
export function byteRangeOf(headers: Headers, size: number, etag: string): ByteRange {
  const header = headers.get("range");
  if (header === null) return { kind: "whole" };
  const ifRange = headers.get("if-range");
  if (ifRange !== null && ifRange !== etag) return { kind: "whole" };
  const match = SINGLE_RANGE.exec(header.replace(/\s+/g, ""));
  const [first, last] = [match?.[1] ?? "", match?.[2] ?? ""];
  if (match === null || (first === "" && last === "")) return { kind: "whole" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Number(last);
  if (end < start) return { kind: "whole" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(end, size - 1) };
}
