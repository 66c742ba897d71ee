/**
 * Runs one ops command against the API and returns what to print: the API's JSON, or lines for people.
 * The answers are typed with the API's own view types (same repository), not re-validated here.
 */

import { pollUntil } from "../../core/wait.ts";
import type { BundleList } from "../../domain/ops/bundles.ts";
import type { InstanceDetail } from "../../domain/ops/instance-detail.ts";
import type { InstanceView } from "../../domain/ops/instances.ts";
import type { JobView } from "../../domain/ops/jobs.ts";
import type { Page } from "../../domain/ops/page.ts";
import type { RetryOutcome } from "../../domain/ops/retry.ts";
import type { RequestResult } from "../../domain/requests.ts";
import type { SweepRecord } from "../../jobs/reconcile/sweep-record.ts";
import type { RolloutDetail } from "../../jobs/rollout/view.ts";
import type { UpgradeRequested } from "../../jobs/upgrade/request.ts";
import type { OpsCommand } from "./args.ts";
import type { OpsClient } from "./client.ts";
import { renderDeprovision, renderRetry, renderSweep, renderUpgrade } from "./render-actions.ts";
import { renderBundles } from "./render-bundles.ts";
import { renderFailedJobs, renderInstances, renderStatus, type StatusAnswer } from "./render-fleet.ts";
import { renderInstance } from "./render-instance.ts";
import { renderRollout } from "./render-rollout.ts";

/** How long `ops reconcile` waits for a sweep the API accepted (202) to finish, in ms. */
const SWEEP_WAIT_MS = 120_000;

/** The lines to print: the API's JSON (pretty) with `json`, else the readable report. */
export async function runOpsCommand(
  client: OpsClient,
  command: ApiCommand,
  json: boolean,
): Promise<string[]> {
  const { body, lines } = await callFor(client, command);
  return json ? [JSON.stringify(body, null, 2)] : lines(body);
}

/** Every command but `restore`, which runs on this machine (cli/ops/restore.ts). */
export type ApiCommand = Exclude<OpsCommand, { name: "restore" }>;

interface Called {
  body: unknown;
  lines: (body: unknown) => string[];
}

const segment = encodeURIComponent;

async function callFor(client: OpsClient, command: ApiCommand): Promise<Called> {
  switch (command.name) {
    case "status":
      return { ...(await client.get("/v1/ops/status")), lines: (b) => renderStatus(b as StatusAnswer) };
    case "instances": {
      const query = { state: command.state, limit: command.limit, cursor: command.cursor };
      const answer = await client.get("/v1/ops/instances", query);
      return { ...answer, lines: (b) => renderInstances(b as Page<InstanceView>) };
    }
    case "instance": {
      const answer = await client.get(`/v1/ops/instances/${segment(command.instanceId)}`);
      return { ...answer, lines: (b) => renderInstance(b as InstanceDetail) };
    }
    case "jobs": {
      const query = { status: "failed", limit: command.limit, cursor: command.cursor };
      const answer = await client.get("/v1/ops/jobs", query);
      return { ...answer, lines: (b) => renderFailedJobs(b as Page<JobView>) };
    }
    case "retry": {
      const answer = await client.post(`/v1/ops/retry/${segment(command.id)}`);
      return { ...answer, lines: (b) => renderRetry(b as RetryOutcome) };
    }
    case "deprovision": {
      const answer = await client.post(`/v1/ops/instances/${segment(command.instanceId)}/deprovision`);
      return { ...answer, lines: (b) => renderDeprovision(b as RequestResult) };
    }
    case "upgrade": {
      const path = `/v1/ops/instances/${segment(command.instanceId)}/upgrade`;
      const answer = await client.post(
        path,
        command.bundle === undefined ? undefined : { bundle: command.bundle },
      );
      return { ...answer, lines: (b) => renderUpgrade(b as UpgradeRequested) };
    }
    case "reconcile": {
      const body = await reconcile(client, command.dryRun, command.apply);
      return { body, lines: (b) => renderSweep(b as SweepRecord) };
    }
    case "bundles":
      return { ...(await client.get("/v1/ops/bundles")), lines: (b) => renderBundles(b as BundleList) };
    case "rollout":
      return { ...(await rollout(client, command)), lines: (b) => renderRollout(b as RolloutDetail) };
  }
}

async function rollout(client: OpsClient, command: Extract<ApiCommand, { name: "rollout" }>) {
  switch (command.action) {
    case "status":
      return client.get("/v1/ops/rollout");
    case "pause":
    case "resume":
      return client.post(`/v1/ops/rollout/${command.action}`);
    case "start": {
      const { bundle, canary, batch, maxFailures } = command;
      return client.post("/v1/ops/rollout", { bundle, canary, batch, maxFailures });
    }
  }
}

/** Asks for a sweep; one still running (202) is followed until it has finished. */
async function reconcile(client: OpsClient, dryRun: boolean, apply: boolean): Promise<unknown> {
  const started = await client.post("/v1/ops/reconcile", apply ? { dryRun, apply } : { dryRun });
  if (started.status !== 202) return started.body;
  const { id } = started.body as SweepRecord;
  return pollUntil(
    async () => {
      const answer = await client.get(`/v1/ops/sweeps/${segment(id)}`);
      const status = (answer.body as SweepRecord).status;
      return status === "succeeded" || status === "failed" ? answer.body : undefined;
    },
    { timeoutMs: SWEEP_WAIT_MS, intervalMs: 250, description: `sweep ${id} to finish` },
  );
}
