/** Hetzner list semantics shared by every collection: `sort`, `page`, `per_page` and `meta.pagination`. */
import { invalidField } from "./errors.ts";

/** Hetzner's default and maximum page sizes. */
const DEFAULT_PER_PAGE = 25;
const MAX_PER_PAGE = 50;

export interface Pagination {
  page: number;
  per_page: number;
  previous_page: number | null;
  next_page: number | null;
  last_page: number;
  total_entries: number;
}

function positiveInt(query: URLSearchParams, name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw invalidField(name, "must be a positive integer");
  return n;
}

/** Slices one page; a `per_page` above 50 is clamped to 50 and reported as such in the meta. */
export function paginate<T>(
  items: T[],
  query: URLSearchParams,
): { items: T[]; meta: { pagination: Pagination } } {
  const page = positiveInt(query, "page", 1);
  const perPage = Math.min(positiveInt(query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE);
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    meta: {
      pagination: {
        page,
        per_page: perPage,
        previous_page: page > 1 ? Math.min(page - 1, lastPage) : null,
        next_page: page < lastPage ? page + 1 : null,
        last_page: lastPage,
        total_entries: items.length,
      },
    },
  };
}

export type SortKeys<T> = Record<string, (item: T) => string | number | null>;

function compare(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/** Applies repeated `sort=field[:asc|:desc]` parameters in order; unknown fields are invalid_input. */
export function sortItems<T extends { id: number }>(
  items: T[],
  query: URLSearchParams,
  keys: SortKeys<T>,
): T[] {
  const orders = query.getAll("sort").map((spec) => {
    const [field = "", direction = "asc"] = spec.split(":");
    const key = keys[field];
    if (!key || (direction !== "asc" && direction !== "desc"))
      throw invalidField("sort", `invalid sort '${spec}'`);
    return { key, sign: direction === "desc" ? -1 : 1 };
  });
  return [...items].sort((a, b) => {
    for (const { key, sign } of orders) {
      const c = compare(key(a), key(b));
      if (c !== 0) return c * sign;
    }
    return a.id - b.id;
  });
}
