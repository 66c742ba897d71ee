/**
 * What a provision makes in its Hetzner project before the server: the instance's SSH key and the project's
 * control-plane firewall. create-server takes them from the instance row (where ssh-key and firewall store
 * them), so after the capacity guard moved the instance to another project, they are made there anew.
 */
import type { ProjectBinding } from "../../capacity/guard.ts";
import { loadInstance } from "../../shared/instance-row.ts";
import { deleteInstanceSshKey } from "../../shared/remove-ssh-key.ts";
import type { ProvisionDeps } from "./deps.ts";
import { firewallRef, firewallStep } from "./firewall.ts";
import { sshKeyRef, sshKeyStep } from "./ssh-key.ts";

export function projectBinding(deps: ProvisionDeps): ProjectBinding {
  const sshKey = sshKeyStep(deps);
  const firewall = firewallStep(deps);
  return {
    async bind(ctx) {
      const row = loadInstance(deps.db, ctx.instanceId);
      // The key is removed when the instance leaves a project: without it, both are made in the new one.
      const [key, wall] =
        row.sshKeyId !== null && row.firewallId !== null
          ? [{ sshKeyId: row.sshKeyId }, { firewallId: row.firewallId }]
          : [await sshKey.run(ctx), await firewall.run(ctx)];
      return new Map<string, unknown>([
        [sshKeyRef.name, key],
        [firewallRef.name, wall],
      ]);
    },
    async release(ctx) {
      await deleteInstanceSshKey(deps, ctx.instanceId, ctx.signal);
    },
  };
}
