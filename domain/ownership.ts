/**
 * How the provisioner recognises its own Hetzner resources: names derived from the instance id and
 * ownership labels, so a retried or crashed create finds (and adopts) what it made instead of leaking it.
 */

/** The app's Linux user on every server (cloud-init creates it; SSH logs in as it). */
export const APP_USER = "rachel";
/** That user's home directory. */
export const APP_HOME = `/home/${APP_USER}`;

const MANAGED_BY = "rachel-provisioner";

/** Hetzner name of the server and of the SSH key of an instance; deterministic so a retried create finds its own. */
export function resourceNameFor(instanceId: string): string {
  return `rachel-${instanceId}`;
}

/** Labels every per-instance resource carries. */
export function ownershipLabels(instanceId: string): Record<string, string> {
  return { "managed-by": MANAGED_BY, instance: instanceId };
}

/** Labels of resources shared by all instances (e.g. the control-plane firewall). */
export function sharedLabels(): Record<string, string> {
  return { "managed-by": MANAGED_BY };
}

/** True when the labels say the resource was made by this provisioner for this instance. */
export function isOwnedBy(labels: Readonly<Record<string, string>> | undefined, instanceId: string): boolean {
  return labels?.["managed-by"] === MANAGED_BY && labels.instance === instanceId;
}
