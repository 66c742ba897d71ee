/**
 * Query parameters of the ops lists: `limit` (1-200, default 50), the opaque `cursor`, and each route's
 * filters. Every bad or unknown parameter is a 400 `invalid_parameter` naming it, never echoing its value.
 */
import { decodeCursor, type PageRequest } from "../../domain/ops/page.ts";
import { HttpError } from "../http-error.ts";

/** Rows per page when the caller does not say. */
export const DEFAULT_PAGE_LIMIT = 50;
/** Most rows one page may hold. */
export const MAX_PAGE_LIMIT = 200;

/** A filter: the values it accepts; undefined when absent. */
export interface FilterSpec<V extends string> {
  name: string;
  values: readonly V[];
}

/** Reads the page request and one optional filter; throws HttpError 400 naming every bad parameter. */
export function readListQuery<V extends string>(
  url: URL,
  filter: FilterSpec<V>,
): PageRequest & { filter: V | undefined } {
  const params = url.searchParams;
  const problems: string[] = [];
  for (const name of new Set(params.keys())) {
    if (![filter.name, "limit", "cursor"].includes(name)) problems.push(`${name}: unknown parameter`);
    else if (params.getAll(name).length > 1) problems.push(`${name}: given more than once`);
  }
  const limit = readLimit(params.get("limit"), problems);
  const cursor = params.get("cursor");
  const after = cursor === null ? undefined : decodeCursor(cursor);
  if (cursor !== null && after === undefined) problems.push("cursor: not a cursor this API issued");
  const raw = params.get(filter.name);
  const value = filter.values.find((candidate) => candidate === raw);
  if (raw !== null && value === undefined) {
    problems.push(`${filter.name}: must be one of ${filter.values.join(", ")}`);
  }
  if (problems.length > 0) throw invalidParameters(problems);
  return { limit, after, filter: value };
}

function readLimit(raw: string | null, problems: string[]): number {
  if (raw === null) return DEFAULT_PAGE_LIMIT;
  const limit = /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
  if (limit >= 1 && limit <= MAX_PAGE_LIMIT) return limit;
  problems.push(`limit: must be an integer 1-${MAX_PAGE_LIMIT}`);
  return DEFAULT_PAGE_LIMIT;
}

/** 400 for a route that takes no query parameters but was given some. */
export function refuseQuery(url: URL): void {
  const names = [...new Set(url.searchParams.keys())];
  if (names.length > 0) throw invalidParameters(names.map((name) => `${name}: unknown parameter`));
}

function invalidParameters(problems: readonly string[]): HttpError {
  return new HttpError(400, "invalid_parameter", `invalid query: ${problems.join("; ")}`);
}
