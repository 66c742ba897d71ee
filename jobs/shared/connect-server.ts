/**
 * An SSH session to an instance's server, as its app user, pinned to the host key its callback reported.
 * inject-secrets hands its session over to verify, the next step (deps.sessions, one per worker), keyed by
 * instance, address and pinned key.
 */

import { APP_USER } from "../../domain/ownership.ts";
import type { RemoteSession } from "../../remote/session.ts";
import { connectPinned } from "../../remote/ssh.ts";
import { PermanentError } from "../errors.ts";
import type { AwaitCloudInitOutput } from "../provision/steps/await-cloud-init.ts";
import type { ProvisionDeps, ProvisionSettings } from "../provision/steps/deps.ts";
import { type InstanceRow, loadInstance, sshPrivateKeyContext } from "./instance-row.ts";

/** What the steps that work over SSH on an existing server need: no Hetzner client. */
export type RemoteStepDeps = Pick<ProvisionDeps, "db" | "sealer" | "customers" | "sessions" | "now"> & {
  settings: Pick<ProvisionSettings, "sshPort" | "verifySettleMs">;
};

/**
 * The session handed over for this instance, address and pinned key, or a new one; the private key is
 * unsealed only in memory, for this connection. `instance` is its id, or the row a step has just read;
 * `callback` is what this operation's await-cloud-init received, when it has one (a provision).
 */
export async function connectToServer(
  deps: RemoteStepDeps,
  instance: string | InstanceRow,
  callback: AwaitCloudInitOutput | undefined,
  signal: AbortSignal,
): Promise<RemoteSession> {
  const row = typeof instance === "string" ? loadInstance(deps.db, instance) : instance;
  const instanceId = row.id;
  // A later operation on a ready server (a reconfigure) pins the key the callback stored on the instance.
  const hostKey = callback?.hostKey ?? row.reportedHostKey;
  if (row.ipv4 === null || row.sshPrivateKey === null || hostKey === null) {
    throw new PermanentError(
      `instance ${instanceId} has no server address, SSH key or reported host key to connect with`,
    );
  }
  const key = `${instanceId} ${row.ipv4}:${deps.settings.sshPort} ${hostKey}`;
  const waiting = deps.sessions.take(key);
  if (waiting !== undefined) return waiting;
  const session = await connectPinned({
    host: row.ipv4,
    port: deps.settings.sshPort,
    username: APP_USER,
    privateKey: deps.sealer.open(row.sshPrivateKey, sshPrivateKeyContext(instanceId)),
    expectedHostKey: hostKey,
    signal,
  });
  deps.sessions.track(session, key);
  return session;
}
