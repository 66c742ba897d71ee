/**
 * An SSH session to an instance's server, as its app user, pinned to the host key its callback reported.
 * inject-secrets hands its session over to verify, the next step, so a provision (or a reconfigure) pays
 * one handshake, not two: a per-process hand-over keyed by instance, address and pinned key, taken once,
 * closed when idle.
 */
import { PermanentError } from "../../errors.ts";
import type { RemoteSession } from "../../remote/session.ts";
import { connectPinned } from "../../remote/ssh.ts";
import type { AwaitCloudInitOutput } from "./await-cloud-init.ts";
import type { ProvisionDeps, ProvisionSettings } from "./deps.ts";
import { type InstanceRow, loadInstance, sshPrivateKeyContext } from "./instance-row.ts";
import { APP_USER } from "./ownership.ts";

/** What the steps that work over SSH on an existing server need: no Hetzner client. */
export type RemoteStepDeps = Pick<ProvisionDeps, "db" | "sealer" | "customers" | "now"> & {
  settings: Pick<ProvisionSettings, "sshPort" | "verifySettleMs">;
};

/** How long a handed-over session waits for the next step before it is closed, in ms. */
const HANDOVER_IDLE_MS = 10_000;

/** Which server a session reaches and which host key it proved; a session is reused only for the same. */
const sessionKeys = new WeakMap<RemoteSession, string>();
const handedOver = new Map<string, { session: RemoteSession; idle: ReturnType<typeof setTimeout> }>();

/**
 * The session handed over for this instance, address and pinned key, or a new one; the private key is
 * unsealed only in memory, for this connection. `instance` is its id, or the row a step has just read.
 */
export async function connectToServer(
  deps: RemoteStepDeps,
  instance: string | InstanceRow,
  outputs: Readonly<Record<string, unknown>>,
  signal: AbortSignal,
): Promise<RemoteSession> {
  const row = typeof instance === "string" ? loadInstance(deps.db, instance) : instance;
  const instanceId = row.id;
  const hostKey = pinnedHostKey(row, outputs);
  if (row.ipv4 === null || row.sshPrivateKey === null || hostKey === null) {
    throw new PermanentError(
      `instance ${instanceId} has no server address, SSH key or reported host key to connect with`,
    );
  }
  const key = `${instanceId} ${row.ipv4}:${deps.settings.sshPort} ${hostKey}`;
  const waiting = handedOver.get(key);
  if (waiting !== undefined) {
    handedOver.delete(key);
    clearTimeout(waiting.idle);
    return waiting.session;
  }
  const session = await connectPinned({
    host: row.ipv4,
    port: deps.settings.sshPort,
    username: APP_USER,
    privateKey: deps.sealer.open(row.sshPrivateKey, sshPrivateKeyContext(instanceId)),
    expectedHostKey: hostKey,
    signal,
  });
  sessionKeys.set(session, key);
  return session;
}

/**
 * The key this provision's callback delivered; for a later operation on a ready server (a reconfigure),
 * the one the callback stored on the instance.
 */
function pinnedHostKey(row: InstanceRow, outputs: Readonly<Record<string, unknown>>): string | null {
  const received = outputs["await-cloud-init"] as AwaitCloudInitOutput | undefined;
  return received?.hostKey ?? row.reportedHostKey;
}

/**
 * Keeps a healthy session open for the instance's next step (within this process), instead of closing it.
 * A session already waiting for the same server is closed; an unclaimed one is closed after HANDOVER_IDLE_MS.
 */
export async function handOverSession(session: RemoteSession): Promise<void> {
  const key = sessionKeys.get(session);
  if (key === undefined) return session.close();
  const previous = handedOver.get(key);
  if (previous !== undefined && previous.session !== session) {
    clearTimeout(previous.idle);
    await previous.session.close();
  }
  const idle = setTimeout(() => {
    handedOver.delete(key);
    void session.close();
  }, HANDOVER_IDLE_MS);
  // An unclaimed session must not keep a stopping worker alive.
  idle.unref();
  handedOver.set(key, { session, idle });
}
