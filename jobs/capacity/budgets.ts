/**
 * The Hetzner rate-limit budgets as `ops status` shows them: the worker, which spends them, records each
 * project's estimate every few seconds; the API reads the records.
 */
import type { Db } from "../../db/index.ts";
import { hetznerBudgets } from "../../db/schema.ts";
import type { RateLimitBudget } from "../../hetzner/index.ts";

export interface BudgetView {
  project: string;
  /** RateLimit-Limit (3600 at Hetzner); null before the first answer. */
  limit: number | null;
  /** Requests left when recorded; null before the first answer. */
  remaining: number | null;
  /** Requests the recording worker sent since it started, and the 429s among them. */
  requests: number;
  rateLimited: number;
  /** When the worker recorded it, epoch ms. */
  observedAt: number;
}

/** Records each project's budget as this process estimates it now. */
export function recordBudgets(db: Db, budgets: ReadonlyMap<string, RateLimitBudget>, now: number): void {
  for (const [project, budget] of budgets) {
    const stats = budget.stats();
    const row = {
      requestLimit: stats.limit,
      remaining: stats.remaining,
      requests: stats.requests,
      rateLimited: stats.rateLimited,
      observedAt: now,
    };
    db.insert(hetznerBudgets)
      .values({ project, ...row })
      .onConflictDoUpdate({ target: hetznerBudgets.project, set: row })
      .run();
  }
}

/** Each recorded project's budget, for the projects named (in their order); a project never recorded is left out. */
export function budgetView(db: Db, projects: readonly string[]): BudgetView[] {
  const rows = new Map(
    db
      .select()
      .from(hetznerBudgets)
      .all()
      .map((row) => [row.project, row]),
  );
  return projects.flatMap((project) => {
    const row = rows.get(project);
    if (row === undefined) return [];
    const { requestLimit, remaining, requests, rateLimited, observedAt } = row;
    return [{ project, limit: requestLimit, remaining, requests, rateLimited, observedAt }];
  });
}
