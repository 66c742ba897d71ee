import { describe, expect, test } from "bun:test";
import { tick } from "../../jobs/reconcile/tick.ts";
import type { SweepPolicy, SweepState } from "../../jobs/reconcile/types.ts";
import {
  applyDecisions,
  brief,
  customer,
  HOUR_MS,
  healthyFleet,
  instance,
  NOW,
  op,
  POLICY,
  server,
  sweepState,
} from "./fleet-builders.ts";

interface Case {
  name: string;
  state: SweepState;
  policy?: Partial<SweepPolicy>;
  expected: string[];
}

const GRACE = POLICY.zombieGraceMs;
const STUCK = POLICY.stuckAfterMs;
const running = (id: string, updatedAt: number) => op(id, { status: "running", updatedAt });

const cases: Case[] = [
  {
    name: "server whose labelled instance is not in the database is a zombie",
    state: sweepState({ servers: [server(7, "ighost")] }),
    expected: ["delete-zombie-server 7"],
  },
  {
    name: "server of a deprovisioned instance is a zombie",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [instance("ia", { status: "deprovisioned", hetznerServerId: 7 })],
    }),
    expected: ["delete-zombie-server 7"],
  },
  {
    name: "server of a failed, compensated instance is a zombie",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [
        instance("ia", { status: "failed", hetznerServerId: 7, operation: op("ia", { status: "failed" }) }),
      ],
    }),
    expected: ["delete-zombie-server 7"],
  },
  {
    name: "server of a failed instance whose retry is under way is left alone",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [
        instance("ia", { status: "failed", hetznerServerId: 7, operation: op("ia", { status: "queued" }) }),
      ],
      liveJobIds: ["provision:ia:1"],
    }),
    expected: [],
  },
  {
    name: "crashed create, id never saved, provision still live: not a zombie (it will be adopted)",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [
        instance("ia", { status: "provisioning", operation: op("ia", { status: "parked", updatedAt: NOW }) }),
      ],
      liveJobIds: ["provision:ia:1"],
    }),
    expected: [],
  },
  {
    name: "crashed create, id never saved, known only by its name: not a zombie",
    state: sweepState({
      servers: [server(7, "ia", { labels: { "managed-by": "rachel-provisioner" } })],
      instances: [
        instance("ia", {
          status: "provisioning",
          operation: op("ia", { status: "running", updatedAt: NOW }),
        }),
      ],
      liveJobIds: ["provision:ia:1"],
    }),
    expected: [],
  },
  {
    name: "crashed create, id never saved, provision then failed: a zombie",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [instance("ia", { status: "failed", operation: op("ia", { status: "failed" }) })],
    }),
    expected: ["delete-zombie-server 7"],
  },
  {
    name: "grace period: one ms short of it the zombie is spared",
    state: sweepState({ servers: [server(7, "ighost", { createdAt: NOW - GRACE + 1 })] }),
    expected: [],
  },
  {
    name: "grace period: exactly at its end the zombie is deleted",
    state: sweepState({ servers: [server(7, "ighost", { createdAt: NOW - GRACE })] }),
    expected: ["delete-zombie-server 7"],
  },
  {
    name: "zombie whose deletion Hetzner is already carrying out is not deleted twice",
    state: sweepState({ servers: [server(7, "ighost", { status: "deleting" })] }),
    expected: [],
  },
  {
    name: "second server of a ready instance is a duplicate zombie",
    state: sweepState({
      servers: [server(7, "ia"), server(8, "ia")],
      instances: [instance("ia", { hetznerServerId: 7 })],
    }),
    expected: ["delete-zombie-server 8"],
  },
  {
    name: "ready instance whose server is gone is marked lost",
    state: sweepState({ instances: [instance("ia", { hetznerServerId: 7 })] }),
    expected: ["mark-instance-lost ia"],
  },
  {
    name: "lost instance is re-provisioned when the policy says so",
    state: sweepState({
      instances: [instance("ia", { hetznerServerId: 7 })],
      customers: [customer("c-ia", "paid")],
    }),
    policy: { reprovisionLost: true },
    expected: ["mark-instance-lost ia", "enqueue-provision c-ia ia"],
  },
  {
    name: "lost instance of a cancelled customer is not re-provisioned",
    state: sweepState({
      instances: [instance("ia", { hetznerServerId: 7 })],
      customers: [customer("c-ia", "cancelled")],
    }),
    policy: { reprovisionLost: true },
    expected: ["mark-instance-lost ia"],
  },
  {
    name: "instance marked lost earlier, re-provision never enqueued: enqueued now",
    state: sweepState({ instances: [instance("ia", { status: "lost", hetznerServerId: 7 })] }),
    policy: { reprovisionLost: true },
    expected: ["enqueue-provision c-ia ia"],
  },
  {
    name: "operation running with no broker job past stuck-after is resumed",
    state: sweepState({
      instances: [instance("ia", { status: "provisioning", operation: running("ia", NOW - STUCK) })],
    }),
    expected: ["resume-operation provision:ia:1"],
  },
  {
    name: "parked wait past its deadline with no broker job is resumed (the runner then times it out)",
    state: sweepState({
      instances: [
        instance("ia", {
          status: "provisioning",
          operation: op("ia", { status: "parked", updatedAt: NOW - HOUR_MS, waitDeadline: NOW - STUCK }),
        }),
      ],
    }),
    expected: ["resume-operation provision:ia:1"],
  },
  {
    name: "operation without a job but updated within stuck-after is left alone",
    state: sweepState({
      instances: [instance("ia", { status: "provisioning", operation: running("ia", NOW - STUCK + 1) })],
    }),
    expected: [],
  },
  {
    name: "old operation whose broker job is live is left alone",
    state: sweepState({
      instances: [instance("ia", { status: "provisioning", operation: running("ia", NOW - HOUR_MS) })],
      liveJobIds: ["provision:ia:1"],
    }),
    expected: [],
  },
  {
    name: "stuck provision of a cancelled customer is failed, and its server deprovisioned",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [
        instance("ia", {
          status: "provisioning",
          hetznerServerId: 7,
          operation: running("ia", NOW - HOUR_MS),
        }),
      ],
      customers: [customer("c-ia", "cancelled")],
    }),
    expected: ["fail-operation provision:ia:1", "enqueue-deprovision ia"],
  },
  {
    name: "paid customer with no instance gets a provision",
    state: sweepState({ customers: [customer("c-new", "paid")] }),
    expected: ["enqueue-provision c-new -"],
  },
  {
    name: "paid customer whose instance row was never followed by a request gets that instance provisioned",
    state: sweepState({
      instances: [instance("ia", { status: "new", operation: null })],
      customers: [customer("c-ia", "paid")],
    }),
    expected: ["enqueue-provision c-ia ia"],
  },
  {
    name: "paid customer whose only instance was deprovisioned gets a new one",
    state: sweepState({
      instances: [instance("ia", { status: "deprovisioned" })],
      customers: [customer("c-ia", "paid")],
    }),
    expected: ["enqueue-provision c-ia -"],
  },
  {
    name: "paid customer with a failed instance is left to the operator",
    state: sweepState({
      instances: [instance("ia", { status: "failed", operation: op("ia", { status: "failed" }) })],
      customers: [customer("c-ia", "paid")],
    }),
    expected: [],
  },
  {
    name: "cancelled customer with a live server gets a deprovision",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [instance("ia", { hetznerServerId: 7 })],
      customers: [customer("c-ia", "cancelled")],
    }),
    expected: ["enqueue-deprovision ia"],
  },
  {
    name: "cancelled customer whose deprovision is under way is left alone",
    state: sweepState({
      servers: [server(7, "ia")],
      instances: [
        instance("ia", {
          hetznerServerId: 7,
          operation: op("ia", { operation: "deprovision", status: "running", updatedAt: NOW }),
        }),
      ],
      customers: [customer("c-ia", "cancelled")],
      liveJobIds: ["deprovision:ia:1"],
    }),
    expected: [],
  },
  {
    name: "cancelled customer without a server is left alone",
    state: sweepState({
      instances: [instance("ia", { status: "lost" })],
      customers: [customer("c-ia", "cancelled")],
    }),
    expected: [],
  },
];

describe("tick", () => {
  for (const c of cases) {
    test(c.name, () => {
      const policy = { ...POLICY, ...c.policy };
      const decisions = tick(c.state, NOW, policy);
      expect(decisions.map(brief)).toEqual(c.expected);
      for (const d of decisions) expect(d.reason.length).toBeGreaterThan(20);
      // Idempotent: once applied, the next sweep finds nothing left for the same causes.
      expect(tick(applyDecisions(c.state, decisions, NOW), NOW, policy)).toEqual([]);
    });
  }

  test("a healthy fleet of 300 servers yields no decision", () => {
    const state = healthyFleet(300);
    expect(state.servers).toHaveLength(300);
    expect(tick(state, NOW, { ...POLICY, reprovisionLost: true })).toEqual([]);
  });

  test("decisions are sorted by kind then subject, whatever the order observed", () => {
    const fleet = healthyFleet(40);
    const drifted = sweepState({
      servers: [...fleet.servers.slice(20), server(9, "iz"), server(3, "iy")],
      instances: [...fleet.instances],
      customers: [...fleet.customers, customer("c-b", "paid"), customer("c-a", "paid")],
    });
    const reversed = sweepState({
      servers: [...drifted.servers].reverse(),
      instances: [...drifted.instances].reverse(),
      customers: [...drifted.customers].reverse(),
    });
    const decisions = tick(drifted, NOW, POLICY);
    expect(decisions.map(brief).slice(0, 2)).toEqual(["delete-zombie-server 3", "delete-zombie-server 9"]);
    expect(decisions.filter((d) => d.kind === "mark-instance-lost")).toHaveLength(20);
    expect(decisions.map(brief).slice(-2)).toEqual(["enqueue-provision c-a -", "enqueue-provision c-b -"]);
    expect(tick(reversed, NOW, POLICY)).toEqual(decisions);
  });
});

describe("tick and delete protection", () => {
  test("a protected server the zombie rules would delete is reported for an operator instead", () => {
    const state = sweepState({
      servers: [server(7, "ighost", { deleteProtected: true }), server(8, "iother")],
    });
    const decisions = tick(state, NOW, POLICY);
    expect(decisions.map(brief)).toEqual(["delete-zombie-server 8", "report-protected-server 7"]);
    expect(decisions[1]?.reason).toContain("delete-protected");
    // Reported on every sweep until an operator acts: nothing the sweep does makes it go away.
    expect(tick(applyDecisions(state, decisions, NOW), NOW, POLICY).map(brief)).toEqual([
      "report-protected-server 7",
    ]);
  });
});
