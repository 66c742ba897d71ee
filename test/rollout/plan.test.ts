/** planRollout alone: the order of waves, promotion after the canary, the halt and its rollbacks, pause. */
import { describe, expect, test } from "bun:test";
import {
  type PlannedMember,
  type PlannedRollout,
  planRollout,
  waveCount,
  waveOf,
} from "../../jobs/rollout/plan.ts";

const rollout: PlannedRollout = {
  status: "running",
  canary: 2,
  batchSize: 3,
  maxFailures: 0,
  promoted: false,
};

function members(...outcomes: PlannedMember["outcome"][]): PlannedMember[] {
  return outcomes.map((outcome, position) => ({
    instanceId: `i${position}`,
    position,
    outcome,
    needsRollback: false,
    rollback: "none",
  }));
}

describe("planRollout", () => {
  test("waves: the canary, then batches", () => {
    expect([0, 1, 2, 4, 5, 7].map((p) => waveOf(p, rollout))).toEqual([0, 0, 1, 1, 2, 2]);
    expect(waveCount(8, rollout)).toBe(3);
    expect(waveCount(0, rollout)).toBe(0);
  });

  test("starts the canary only, and waits for it", () => {
    const all = members("pending", "pending", "pending", "pending");
    expect(planRollout(rollout, all)).toEqual([
      { kind: "start", instanceId: "i0" },
      { kind: "start", instanceId: "i1" },
    ]);
    expect(planRollout(rollout, members("upgraded", "upgrading", "pending"))).toEqual([]);
  });

  test("promotes once the canary has ended, with the first batch", () => {
    const all = members("upgraded", "upgraded", "pending", "pending", "pending", "pending");
    expect(planRollout(rollout, all)).toEqual([
      { kind: "promote" },
      { kind: "start", instanceId: "i2" },
      { kind: "start", instanceId: "i3" },
      { kind: "start", instanceId: "i4" },
    ]);
    const promoted = { ...rollout, promoted: true };
    expect(
      planRollout(promoted, members("upgraded", "upgraded", "upgraded", "upgrading", "skipped", "pending")),
    ).toEqual([]);
    expect(
      planRollout(promoted, members("upgraded", "upgraded", "upgraded", "skipped", "upgraded", "pending")),
    ).toEqual([{ kind: "start", instanceId: "i5" }]);
  });

  test("finishes when every member has ended within the limit, promoting if the canary was all", () => {
    expect(planRollout(rollout, members("upgraded", "skipped"))).toEqual([
      { kind: "promote" },
      { kind: "finish", status: "succeeded" },
    ]);
    const tolerant = { ...rollout, maxFailures: 1, promoted: true };
    expect(planRollout(tolerant, members("upgraded", "failed", "upgraded"))).toEqual([
      { kind: "finish", status: "succeeded" },
    ]);
  });

  test("one failure past the limit halts: nothing starts, degraded members roll back, then it finishes", () => {
    const failed = members("failed", "upgrading", "pending");
    expect(planRollout(rollout, failed)).toEqual([
      { kind: "halt", reason: "1 upgrade(s) failed, more than the 0 allowed" },
    ]);
    const halted = { ...rollout, status: "halted" as const };
    const degraded = members("failed", "failed", "pending").map((m, i) => ({ ...m, needsRollback: i === 1 }));
    expect(planRollout(halted, degraded)).toEqual([{ kind: "rollBack", instanceId: "i1" }]);
    const rolling = degraded.map((m, i) => (i === 1 ? { ...m, rollback: "running" as const } : m));
    expect(planRollout(halted, rolling)).toEqual([]);
    const rolled = degraded.map((m, i) => (i === 1 ? { ...m, rollback: "ended" as const } : m));
    expect(planRollout(halted, rolled)).toEqual([{ kind: "finish", status: "halted" }]);
  });

  test("paused: nothing starts, but a rollout with nothing left finishes", () => {
    const paused = { ...rollout, status: "paused" as const };
    expect(planRollout(paused, members("pending", "pending"))).toEqual([]);
    expect(planRollout(paused, members("upgraded", "upgraded"))).toEqual([
      { kind: "promote" },
      { kind: "finish", status: "succeeded" },
    ]);
  });
});
