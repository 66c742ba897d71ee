/** An SSH session to an instance's server, as its app user, pinned to the host key its callback reported. */
import { PermanentError } from "../../errors.ts";
import type { RemoteSession } from "../../remote/session.ts";
import { connectPinned } from "../../remote/ssh.ts";
import type { AwaitCloudInitOutput } from "./await-cloud-init.ts";
import type { ProvisionDeps } from "./deps.ts";
import { loadInstance, sshPrivateKeyContext } from "./instance-row.ts";
import { APP_USER } from "./ownership.ts";

/** Opens the session; the private key is unsealed only in memory, for this connection. */
export function connectToServer(
  deps: ProvisionDeps,
  instanceId: string,
  outputs: Readonly<Record<string, unknown>>,
  signal: AbortSignal,
): Promise<RemoteSession> {
  const { hostKey } = outputs["await-cloud-init"] as AwaitCloudInitOutput;
  const row = loadInstance(deps.db, instanceId);
  if (row.ipv4 === null || row.sshPrivateKey === null) {
    throw new PermanentError(`instance ${instanceId} has no server address or SSH key to connect with`);
  }
  return connectPinned({
    host: row.ipv4,
    port: deps.settings.sshPort,
    username: APP_USER,
    privateKey: deps.sealer.open(row.sshPrivateKey, sshPrivateKeyContext(instanceId)),
    expectedHostKey: hostKey,
    signal,
  });
}
