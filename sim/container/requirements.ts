/** What this host needs before it can run container machines, each missing piece named with its remedy. */
import { ContainerHostError } from "./errors.ts";

const TOOLS: { command: string; remedy: string }[] = [
  { command: "systemd-nspawn", remedy: "apt-get install systemd-container" },
  { command: "debootstrap", remedy: "apt-get install debootstrap" },
  { command: "ip", remedy: "apt-get install iproute2" },
  { command: "unshare", remedy: "apt-get install util-linux" },
  { command: "nsenter", remedy: "apt-get install util-linux" },
];

/** Every unmet requirement, as lines for people; empty when container machines can run here. */
export function missingContainerRequirements(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root (namespaces, mounts and systemd-nspawn need uid 0)");
  for (const tool of TOOLS) if (!Bun.which(tool.command)) missing.push(`${tool.command} (${tool.remedy})`);
  return missing;
}

export function assertContainerRequirements(): void {
  const missing = missingContainerRequirements();
  if (missing.length === 0) return;
  throw new ContainerHostError(
    "requirements_missing",
    `container machines need: ${missing.join("; ")}. The first run also builds a Debian 13 root ` +
      "filesystem with debootstrap (1-3 minutes on a quiet machine, 390 MB in /var/cache/rachel-sim).",
  );
}
