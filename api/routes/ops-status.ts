/**
 * GET /v1/ops/status — the fleet at a glance for `bun run ops status`: instances by state, jobs by status,
 * failed jobs, servers used / limit per Hetzner project and the waiting line, the broker's queue depths (null with the reason when the broker does not answer in time,
 * so the rest is still shown), the newest fleet rollout, the last reconcile sweep and the backups, with their warnings.
 */

import { backupStatus } from "../../domain/ops/backup-status.ts";
import {
  type QueueDepths,
  QueueDepthsUnavailableError,
  readQueueDepths,
} from "../../domain/ops/queue-depths.ts";
import { fleetStatus } from "../../domain/ops/status.ts";
import { capacitySettingsOf } from "../../jobs/capacity/line.ts";
import { latestRolloutView } from "../../jobs/rollout/view.ts";
import { brokerConnection } from "../../queue/queue.ts";
import { refuseNonOperator } from "../ops/access.ts";
import { refuseQuery } from "../ops/query.ts";
import type { Route } from "../router.ts";

export const opsStatusRoute: Route = {
  method: "GET",
  path: "/v1/ops/status",
  handle: async (ctx) => {
    const refused = refuseNonOperator(ctx);
    if (refused) return refused;
    refuseQuery(ctx.url);
    const status = fleetStatus(ctx.deps.db, capacitySettingsOf(ctx.deps.config));
    let queue: QueueDepths | null = null;
    let queueError: string | null = null;
    try {
      queue = await readQueueDepths(brokerConnection(ctx.deps.config));
    } catch (err) {
      if (!(err instanceof QueueDepthsUnavailableError)) throw err;
      ctx.log.warn({ err }, "queue depths unavailable");
      queueError = err.message;
    }
    const backups = backupStatus(ctx.deps.db, ctx.deps.config.backup);
    const rollout = latestRolloutView(ctx.deps.db, Date.now());
    return Response.json({ ...status, rollout, queue, queueError, backups });
  },
};
