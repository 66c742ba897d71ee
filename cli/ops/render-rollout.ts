/** `ops rollout …`: the rollout, where it is, and its members that are not plainly done. */
import type { RolloutDetail, RolloutView } from "../../jobs/rollout/view.ts";
import { formatFields, formatTable } from "./table.ts";

/** One line: id, status, wave and member counts (also `ops status`'s rollout line). */
export function rolloutLine(rollout: RolloutView): string {
  const { members, wave } = rollout;
  const at = wave.current === 0 ? "the canary" : `batch ${wave.current} of ${wave.total - 1}`;
  const where = rollout.finishedAt === null ? ` at ${at}` : "";
  return `${rollout.id} ${rollout.status}${where}: ${members.upgraded} upgraded, ${members.upgrading} upgrading, ${members.pending} pending, ${members.failed} failed, ${members.skipped} skipped`;
}

export function renderRollout(rollout: RolloutDetail): string[] {
  const unsettled = rollout.memberList.filter(
    (member) => member.outcome !== "upgraded" && member.outcome !== "pending",
  );
  const waiting = rollout.memberList.filter(
    (member) => member.outcome === "pending" && member.detail !== null,
  );
  const rows = [...unsettled, ...waiting].map((member) => [
    member.instanceId,
    member.wave === 0 ? "canary" : member.wave,
    member.outcome,
    member.rollbackOperationId === null ? null : `rollback ${member.rollbackOperationId}`,
    member.detail,
  ]);
  const rate = rollout.instancesPerMinute;
  return [
    rolloutLine(rollout),
    ...formatFields([
      ["bundle", `${rollout.bundleId} (${rollout.architecture})`],
      [
        "canary / batch",
        `${rollout.canary} / ${rollout.batchSize}, at most ${rollout.maxFailures} failure(s)`,
      ],
      [
        "promoted",
        rollout.promotedAt === null
          ? "not yet (after the canary)"
          : new Date(rollout.promotedAt).toISOString(),
      ],
      ["started", new Date(rollout.createdAt).toISOString()],
      ["finished", rollout.finishedAt === null ? null : new Date(rollout.finishedAt).toISOString()],
      ["instances/min", rate === null ? null : rate.toFixed(1)],
      ...(rollout.haltReason === null ? [] : ([["halted", rollout.haltReason]] as const)),
    ]),
    ...(rows.length === 0
      ? []
      : ["", ...formatTable(["instance", "wave", "outcome", "rollback", "detail"], rows)]),
  ];
}
