/** The report of `ops instance <id>`: what the instance is, each operation's steps, and its timeline. */
import type { InstanceDetail, OperationView } from "../../domain/ops/instance-detail.ts";
import { formatFields, formatTable } from "./table.ts";

export function renderInstance(detail: InstanceDetail): string[] {
  const { instance } = detail;
  const server =
    instance.hetznerServerId === null
      ? instance.serverName
      : `${instance.serverName ?? "?"} (#${instance.hetznerServerId})`;
  const failure =
    instance.errorCode === null
      ? null
      : `${instance.errorCode} at ${instance.errorStep ?? "?"}: ${instance.errorMessage ?? ""}`.trimEnd();
  return [
    `instance ${instance.id}`,
    ...formatFields([
      ["state", instance.state],
      ["customer", instance.customerId],
      ["server", server],
      ["ssh key", instance.sshKeyId],
      ["firewall", instance.firewallId],
      ["project", instance.project],
      ["location", instance.location],
      ["server type", instance.serverType],
      ["ipv4", instance.ipv4],
      ["ipv6", instance.ipv6],
      ["created", instance.createdAt],
      ["ready", instance.readyAt],
      ["error", failure],
      ["needs re-login", instance.needsRelogin],
    ]),
    ...detail.operations.flatMap(renderOperation),
    "",
    "timeline",
    ...detail.timeline.map((event) => `  ${event.at}  ${event.event}`),
  ];
}

function renderOperation(operation: OperationView): string[] {
  const took = operation.durationMs === null ? "" : ` in ${operation.durationMs} ms`;
  const waiting =
    operation.waitingFor === null
      ? ""
      : `, waiting for ${operation.waitingFor} until ${operation.waitDeadline}`;
  const header = `${operation.operation} ${operation.id}: ${operation.status}${took} (run ${operation.run})${waiting}`;
  const steps = formatTable(
    ["step", "status", "attempts", "ms", "error"],
    operation.steps.map((step) => [
      step.step,
      step.status,
      step.attempts,
      step.durationMs,
      step.errorCode === null ? null : `${step.errorCode}: ${step.errorMessage ?? ""}`.trimEnd(),
    ]),
  );
  return ["", header, ...(operation.steps.length === 0 ? ["  no step has run yet"] : steps)];
}
