/**
 * Step firewall: the one control-plane firewall (inbound SSH only from CONTROL_PLANE_IPS) every server is
 * created behind, one per Hetzner project. Created once and cached in shared_resources, so a steady-state provision spends no
 * Hetzner request on it. Idempotent: the cache is read first; a name already taken is looked up.
 */
import { eq } from "drizzle-orm";
import { z } from "zod";
import { DEFAULT_PROJECT } from "../../../core/config.ts";
import { sharedResources } from "../../../db/schema.ts";
import { sharedLabels } from "../../../domain/ownership.ts";
import { isHetznerError } from "../../../hetzner/index.ts";
import { type HetznerProject, projectOf } from "../../capacity/projects.ts";
import { PermanentError } from "../../errors.ts";
import { updateInstance } from "../../shared/instance-row.ts";
import { hetznerStepRetry } from "../../shared/retry-policies.ts";
import { type Step, stepRef } from "../../step.ts";
import type { ProvisionDeps } from "./deps.ts";

/** Name of the firewall at Hetzner and of its row in shared_resources. */
const CONTROL_PLANE_FIREWALL = "rachel-control-plane-ssh";

export const firewallRef = stepRef("firewall", z.object({ firewallId: z.number().int() }));
export type FirewallOutput = z.infer<typeof firewallRef.output>;

export function firewallStep(deps: ProvisionDeps): Step<FirewallOutput> {
  const now = deps.now ?? Date.now;
  return {
    ...firewallRef,
    retry: hetznerStepRetry,
    timeoutMs: 60_000,
    async run(ctx) {
      const project = projectOf(deps, ctx.instanceId);
      const firewallId =
        cachedFirewallId(deps, project.name) ?? (await createOrFind(deps, project, ctx.signal));
      updateInstance(deps.db, ctx.instanceId, { firewallId }, now());
      return { firewallId };
    },
  };
}

/** Its shared_resources row: one per project (the single project's keeps the name it always had). */
function cacheKey(project: string): string {
  return project === DEFAULT_PROJECT ? CONTROL_PLANE_FIREWALL : `${CONTROL_PLANE_FIREWALL}@${project}`;
}

function cachedFirewallId(deps: ProvisionDeps, project: string): number | null {
  const row = deps.db
    .select({ hetznerId: sharedResources.hetznerId })
    .from(sharedResources)
    .where(eq(sharedResources.name, cacheKey(project)))
    .get();
  return row?.hetznerId ?? null;
}

async function createOrFind(
  deps: ProvisionDeps,
  project: HetznerProject,
  signal: AbortSignal,
): Promise<number> {
  const { settings } = deps;
  const id = await project.client.firewalls
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
        const [existing] = await project.client.firewalls.listAll({ name: CONTROL_PLANE_FIREWALL, signal });
        if (!existing) throw new PermanentError(`firewall ${CONTROL_PLANE_FIREWALL} is taken but not found`);
        return existing.id;
      },
    );
  // Two first provisions may race here; both found the same firewall, so the first row written wins.
  deps.db
    .insert(sharedResources)
    .values({ name: cacheKey(project.name), hetznerId: id, createdAt: (deps.now ?? Date.now)() })
    .onConflictDoNothing()
    .run();
  return id;
}
