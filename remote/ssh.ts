/**
 * SSH connections to a customer machine, pinned to the ed25519 host key the machine reported through an
 * authenticated channel (never trust-on-first-use by IP: Hetzner reuses addresses). Only `exec` is used,
 * so the same code works against OpenSSH and the simulator's fake machines.
 */
import { connect as connectTcp } from "node:net";
import { Client, type ClientErrorExtensions } from "ssh2";
import { coalesceWritesPerTick } from "../core/coalesce-writes.ts";
import { HostKeyMismatchError, RemoteError } from "./errors.ts";
import { fingerprintOf, type PinnedHostKey, parsePinnedHostKey, sameHostKey } from "./host-key.ts";
import { PinnedSession, type RemoteSession } from "./session.ts";

export interface ConnectPinnedOptions {
  host: string;
  /** TCP port; default 22. */
  port?: number;
  username: string;
  /** The client's private key (OpenSSH or PEM text). Never logged or echoed. */
  privateKey: string | Buffer;
  /** `ssh-ed25519 AAAA… [comment]`: the only host key accepted; any other is refused before authentication. */
  expectedHostKey: string;
  /** Bound of TCP connect + key exchange + authentication, in ms; default 20000. */
  readyTimeoutMs?: number;
  /** Aborts the connection attempt; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

const DEFAULT_PORT = 22;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
/** Keepalives notice a half-open connection during long commands (3 missed = dead). */
const KEEPALIVE_INTERVAL_MS = 10_000;

type Ssh2Error = Error & ClientErrorExtensions & { code?: string };

/**
 * Connects and authenticates; the server must prove possession of `expectedHostKey` first. Every failure,
 * including a malformed `expectedHostKey` (invalid_host_key), arrives as a rejection.
 */
export async function connectPinned(opts: ConnectPinnedOptions): Promise<RemoteSession> {
  const pinned = parsePinnedHostKey(opts.expectedHostKey);
  const port = opts.port ?? DEFAULT_PORT;
  const where = `${opts.host}:${port}`;
  const { signal } = opts;
  if (signal?.aborted) throw signal.reason;

  const client = new Client();
  // Our own socket, so that each burst of packets leaves in one system call (see coalesceWritesPerTick).
  const socket = coalesceWritesPerTick(connectTcp({ host: opts.host, port }));
  let presented: Buffer | undefined;
  return new Promise<RemoteSession>((resolve, reject) => {
    const cleanup = () => {
      client.removeAllListeners("ready");
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: unknown) => {
      cleanup();
      client.removeAllListeners("close");
      client.on("error", () => undefined);
      client.destroy();
      socket.destroy();
      reject(err);
    };
    const onAbort = () => fail(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    client.once("error", (err: Ssh2Error) => fail(connectError(err, opts.host, port, pinned, presented)));
    client.once("close", () =>
      fail(new RemoteError("connection_lost", `${where}: closed during the handshake`)),
    );
    client.once("ready", () => {
      cleanup();
      client.removeAllListeners("error");
      client.removeAllListeners("close");
      resolve(new PinnedSession(client, where));
    });
    try {
      client.connect({
        sock: socket,
        username: opts.username,
        privateKey: opts.privateKey,
        readyTimeout: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
        keepaliveInterval: KEEPALIVE_INTERVAL_MS,
        tryKeyboard: false,
        algorithms: { serverHostKey: ["ssh-ed25519"] },
        hostVerifier: (key: Buffer) => {
          presented = key;
          return sameHostKey(pinned, key);
        },
      });
    } catch {
      // ssh2 throws synchronously on an unparsable key; its message may quote the key, so drop it.
      fail(new RemoteError("invalid_request", `${where}: the client private key could not be parsed`));
    }
  });
}

/** Maps an ssh2 connect failure to a typed error; a refused host key wins over whatever ssh2 reports. */
function connectError(
  err: Ssh2Error,
  host: string,
  port: number,
  pinned: PinnedHostKey,
  presented: Buffer | undefined,
): RemoteError {
  const where = `${host}:${port}`;
  if (presented !== undefined && !sameHostKey(pinned, presented)) {
    return new HostKeyMismatchError(host, port, pinned.fingerprint, fingerprintOf(presented));
  }
  if (presented === undefined && err.level === "handshake" && /host key/i.test(err.message)) {
    return new HostKeyMismatchError(host, port, pinned.fingerprint, null);
  }
  const cause = { cause: err };
  if (err.level === "client-authentication") {
    return new RemoteError("auth_failed", `${where}: the server rejected our key`, cause);
  }
  if (err.level === "client-timeout" || err.code === "ETIMEDOUT" || err.code === "EHOSTUNREACH") {
    return new RemoteError("connect_timeout", `${where}: no SSH handshake within the deadline`, cause);
  }
  if (err.level === "handshake") {
    return new RemoteError("handshake_failed", `${where}: SSH handshake failed (${err.message})`, cause);
  }
  if (err.code === "ECONNREFUSED")
    return new RemoteError("connection_refused", `${where}: connection refused`, cause);
  return new RemoteError(
    "connection_lost",
    `${where}: connection failed (${err.code ?? err.level ?? "ssh"})`,
    cause,
  );
}
