/**
 * Step firewall: the one control-plane firewall (inbound SSH only from CONTROL_PLANE_IPS) every server is
 * created behind. Created once and cached in shared_resources, so a steady-state provision spends no
 * Hetzner request on it. Idempotent: the cache is read first; a name already taken is looked up.
 */
import { eq } from "drizzle-orm";
import { sharedResources } from "../../../db/schema.ts";
import { sharedLabels } from "../../../domain/ownership.ts";
import { isHetznerError } from "../../../hetzner/index.ts";
import { PermanentError } from "../../errors.ts";
import { updateInstance } from "../../shared/instance-row.ts";
import { hetznerStepRetry } from "../../shared/retry-policies.ts";
import type { Step } from "../../step.ts";
import type { ProvisionDeps } from "./deps.ts";

/** Name of the firewall at Hetzner and of its row in shared_resources. */
const CONTROL_PLANE_FIREWALL = "rachel-control-plane-ssh";

export interface FirewallOutput {
  firewallId: number;
}

export function firewallStep(deps: ProvisionDeps): Step<FirewallOutput> {
  const now = deps.now ?? Date.now;
  return {
    name: "firewall",
    retry: hetznerStepRetry,
    timeoutMs: 60_000,
    async run(ctx) {
      const firewallId = cachedFirewallId(deps) ?? (await createOrFind(deps, ctx.signal));
      updateInstance(deps.db, ctx.instanceId, { firewallId }, now());
      return { firewallId };
    },
  };
}

function cachedFirewallId(deps: ProvisionDeps): number | null {
  const row = deps.db
    .select({ hetznerId: sharedResources.hetznerId })
    .from(sharedResources)
    .where(eq(sharedResources.name, CONTROL_PLANE_FIREWALL))
    .get();
  return row?.hetznerId ?? null;
}

async function createOrFind(deps: ProvisionDeps, signal: AbortSignal): Promise<number> {
  const { settings } = deps;
  const id = await deps.hetzner.firewalls
    .create(
      {
        name: CONTROL_PLANE_FIREWALL,
        labels: { ...settings.hcloudLabels, ...sharedLabels() },
        rules: [
          {
            direction: "in",
            protocol: "tcp",
            port: String(settings.sshPort),
            sourceIps: [...settings.controlPlaneIps],
            description: "SSH from the provisioner's control plane only",
          },
        ],
      },
      { signal },
    )
    .then(
      (created) => created.firewall.id,
      async (err: unknown) => {
        if (!isHetznerError(err, "uniqueness_error")) throw err;
        const [existing] = await deps.hetzner.firewalls.listAll({ name: CONTROL_PLANE_FIREWALL, signal });
        if (!existing) throw new PermanentError(`firewall ${CONTROL_PLANE_FIREWALL} is taken but not found`);
        return existing.id;
      },
    );
  // Two first provisions may race here; both found the same firewall, so the first row written wins.
  deps.db
    .insert(sharedResources)
    .values({ name: CONTROL_PLANE_FIREWALL, hetznerId: id, createdAt: (deps.now ?? Date.now)() })
    .onConflictDoNothing()
    .run();
  return id;
}
