/**
 * Step ssh-key: the instance's own ed25519 key pair, generated once in process (private half sealed in
 * the instance row BEFORE anything is uploaded, so a crash never strands a key we cannot use), then
 * registered at Hetzner under the instance's name with ownership labels.
 * Idempotent: the pair is reused once stored; a key already registered under our name is adopted.
 */
import { z } from "zod";
import { generateSshKeyPair } from "../../../core/ssh-keygen.ts";
import { isOwnedBy, ownershipLabels, resourceNameFor } from "../../../domain/ownership.ts";
import { isHetznerError, type SshKey } from "../../../hetzner/index.ts";
import { clientOf } from "../../capacity/projects.ts";
import { PermanentError } from "../../errors.ts";
import { loadInstance, sshPrivateKeyContext, updateInstance } from "../../shared/instance-row.ts";
import { deleteInstanceSshKey } from "../../shared/remove-ssh-key.ts";
import { hetznerStepRetry } from "../../shared/retry-policies.ts";
import { type Step, stepRef } from "../../step.ts";
import type { ProvisionDeps } from "./deps.ts";

export const sshKeyRef = stepRef("ssh-key", z.object({ sshKeyId: z.number().int() }));
export type SshKeyOutput = z.infer<typeof sshKeyRef.output>;

export function sshKeyStep(deps: ProvisionDeps): Step<SshKeyOutput> {
  const now = deps.now ?? Date.now;
  return {
    ...sshKeyRef,
    retry: hetznerStepRetry,
    timeoutMs: 60_000,
    async run(ctx) {
      const publicKey = ensureKeyPair(deps, ctx.instanceId, now);
      const name = resourceNameFor(ctx.instanceId);
      const key = await clientOf(deps, ctx.instanceId)
        .sshKeys.create(
          { name, publicKey, labels: { ...deps.settings.hcloudLabels, ...ownershipLabels(ctx.instanceId) } },
          { signal: ctx.signal },
        )
        .catch(async (err: unknown) => {
          if (!isHetznerError(err, "uniqueness_error")) throw err;
          return adoptKey(deps, ctx.instanceId, publicKey, ctx.signal);
        });
      updateInstance(deps.db, ctx.instanceId, { sshKeyId: key.id }, now());
      return { sshKeyId: key.id };
    },
    async compensate(ctx) {
      await deleteInstanceSshKey(deps, ctx.instanceId, ctx.signal);
    },
  };
}

/** Returns the public key line, generating and storing the pair first if the instance has none yet. */
function ensureKeyPair(deps: ProvisionDeps, instanceId: string, now: () => number): string {
  const row = loadInstance(deps.db, instanceId);
  if (row.sshPublicKey !== null && row.sshPrivateKey !== null) return row.sshPublicKey;
  const pair = generateSshKeyPair(resourceNameFor(instanceId));
  updateInstance(
    deps.db,
    instanceId,
    {
      sshPublicKey: pair.publicKey,
      sshPrivateKey: deps.sealer.seal(pair.privateKey, sshPrivateKeyContext(instanceId)),
    },
    now(),
  );
  return pair.publicKey;
}

/** The name is taken: ours from an earlier attempt whose answer was lost, or someone else's (never touched). */
async function adoptKey(
  deps: ProvisionDeps,
  instanceId: string,
  publicKey: string,
  signal: AbortSignal,
): Promise<SshKey> {
  const name = resourceNameFor(instanceId);
  const [existing] = await clientOf(deps, instanceId).sshKeys.listAll({ name, signal });
  if (existing && isOwnedBy(existing.labels, instanceId) && samePublicKey(existing.public_key, publicKey)) {
    return existing;
  }
  throw new PermanentError(
    existing
      ? `Hetzner SSH key ${name} exists but is not this instance's (labels or key differ); remove it or rename`
      : `Hetzner refused SSH key ${name} as not unique, yet no key has that name: its fingerprint is registered under another name`,
    { code: "ssh_key_conflict" },
  );
}

/** Compares the key type and base64 body; Hetzner may keep or drop the comment. */
function samePublicKey(a: string, b: string): boolean {
  const body = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(" ");
  return body(a) === body(b);
}
