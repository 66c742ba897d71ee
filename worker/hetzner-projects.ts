/**
 * The worker's Hetzner projects: one rate-limit budget per configured project (Hetzner's 3600 requests an
 * hour are per project), created once at start and shared by every client of that project in this process
 * (the jobs' and the sweep's); each client feeds the per-project request metrics.
 */
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Db } from "../db/index.ts";
import { createHetznerClient, type HetznerRequestEvent, RateLimitBudget } from "../hetzner/index.ts";
import { recordBudgets } from "../jobs/capacity/budgets.ts";
import { type HetznerProjects, projectsWithClients } from "../jobs/capacity/projects.ts";
import { createHetznerMetrics } from "./hetzner-metrics.ts";

/** How often the budgets are recorded for `ops status`, in ms. */
const RECORD_BUDGETS_EVERY_MS = 5_000;

export interface WorkerHetzner {
  readonly budgets: ReadonlyMap<string, RateLimitBudget>;
  /** The projects with new clients on the shared budgets; `onRequest` also sees each of their HTTP attempts. */
  projects(onRequest?: (project: string, event: HetznerRequestEvent) => void): HetznerProjects;
  /** Starts recording the budgets for `ops status`; returns the stop. */
  recordBudgets(db: Db): () => void;
}

export function createWorkerHetzner(
  config: Config,
  runtime: { log: Logger; metrics: MetricsRegistry },
): WorkerHetzner {
  const budgets = new Map(config.hcloudProjects.map((p) => [p.name, new RateLimitBudget()]));
  const metricsFor = createHetznerMetrics(runtime.metrics, budgets);
  return {
    budgets,
    projects: (onRequest) =>
      projectsWithClients(config.hcloudProjects, ({ name, token }) => {
        const feedMetrics = metricsFor(name);
        return createHetznerClient({
          endpoint: config.hcloudEndpoint,
          token,
          // Every configured project got its budget above.
          budget: budgets.get(name) as RateLimitBudget,
          log: runtime.log.child({ component: "hetzner", project: name }),
          onRequest: (event) => {
            feedMetrics(event);
            onRequest?.(name, event);
          },
        });
      }),
    recordBudgets(db) {
      const timer = setInterval(() => recordBudgets(db, budgets, Date.now()), RECORD_BUDGETS_EVERY_MS);
      return () => {
        clearInterval(timer);
        recordBudgets(db, budgets, Date.now());
      };
    },
  };
}
