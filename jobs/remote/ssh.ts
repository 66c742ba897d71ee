/**
 * SSH sessions to a customer machine, pinned to the ed25519 host key the machine reported through an
 * authenticated channel (never trust-on-first-use by IP: Hetzner reuses addresses). Only `exec` is used,
 * so the same code works against OpenSSH and the simulator's fake machines.
 */
import { Client, type ClientChannel, type ClientErrorExtensions } from "ssh2";
import { HostKeyMismatchError, RemoteError } from "./errors.ts";
import { fingerprintOf, type PinnedHostKey, parsePinnedHostKey, sameHostKey } from "./host-key.ts";
import { shellQuote } from "./shell-quote.ts";

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

export interface ExecOptions {
  /** Written to the command's stdin, then EOF; the only way secrets may travel. Default: EOF at once. */
  stdin?: string | Uint8Array;
  /** Bound of the whole command, in ms; default 60000. On expiry the channel is closed (exec_timeout). */
  timeoutMs?: number;
  /** Closes the channel and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Most bytes kept of stdout and of stderr each; the rest is dropped and `truncated` set. Default 65536. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  /** Exit status, or null when the command was killed by a signal. */
  code: number | null;
  /** Signal name (e.g. "KILL") when the command died of one, else null. */
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when some output was dropped to honour `maxOutputBytes`. */
  truncated: boolean;
}

export interface RemoteSession {
  /** `host:port`, for messages. */
  readonly where: string;
  /**
   * Runs one command (one SSH round trip) under /bin/sh, killed on the machine too once past its deadline.
   * The command line is visible in `ps` there: pass secrets via stdin.
   */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Ends the connection; idempotent. */
  close(): Promise<void>;
}

const DEFAULT_PORT = 22;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
/** Keepalives notice a half-open connection during long commands (3 missed = dead). */
const KEEPALIVE_INTERVAL_MS = 10_000;
const CLOSE_GRACE_MS = 2_000;
/** Seconds between the remote TERM and KILL of a command past its deadline. */
const REMOTE_KILL_GRACE_S = 2;

type Ssh2Error = Error & ClientErrorExtensions & { code?: string };

/** Connects and authenticates; the server must prove possession of `expectedHostKey` first. */
export function connectPinned(opts: ConnectPinnedOptions): Promise<RemoteSession> {
  const pinned = parsePinnedHostKey(opts.expectedHostKey);
  const port = opts.port ?? DEFAULT_PORT;
  const where = `${opts.host}:${port}`;
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);

  const client = new Client();
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
        host: opts.host,
        port,
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
  if (err.code === "ECONNREFUSED")
    return new RemoteError("connection_refused", `${where}: connection refused`, cause);
  return new RemoteError(
    "connection_lost",
    `${where}: connection failed (${err.code ?? err.level ?? "ssh"})`,
    cause,
  );
}

/** Keeps at most `limit` bytes of a stream. */
class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/**
 * OpenSSH does not kill a command (without a pty) when its channel closes, and ssh2 cannot send a "signal"
 * request after stdin's EOF; so coreutils `timeout` bounds the command on the machine itself, a second
 * after our own deadline, and kills its whole process group.
 */
function boundedRemotely(command: string, timeoutMs: number): string {
  const seconds = Math.ceil(timeoutMs / 1000) + 1;
  return `exec timeout --kill-after=${REMOTE_KILL_GRACE_S} ${seconds} /bin/sh -c ${shellQuote(command)}`;
}

class PinnedSession implements RemoteSession {
  private closed = false;
  private lastError: Error | undefined;

  constructor(
    private readonly client: Client,
    readonly where: string,
  ) {
    // An error after `ready` (e.g. keepalive timeout) must not crash the process; the next exec reports it.
    client.on("error", (err) => {
      this.lastError = err;
    });
    client.once("close", () => {
      this.closed = true;
    });
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.closed) return Promise.reject(this.lost("the connection is closed"));
    return new Promise<ExecResult>((resolve, reject) => {
      // An abort can land before the channel opens; then the channel is closed as soon as it arrives.
      let abortedEarly = false;
      const onEarlyAbort = () => {
        abortedEarly = true;
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onEarlyAbort, { once: true });
      this.client.exec(
        boundedRemotely(command, opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS),
        (err, channel) => {
          signal?.removeEventListener("abort", onEarlyAbort);
          if (abortedEarly) {
            if (!err) channel.close();
            return;
          }
          if (err) {
            reject(this.lost("could not open a channel", err));
            return;
          }
          this.runChannel(channel, opts, resolve, reject);
        },
      );
    });
  }

  private runChannel(
    channel: ClientChannel,
    opts: ExecOptions,
    resolve: (result: ExecResult) => void,
    reject: (err: unknown) => void,
  ): void {
    const limit = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const { signal } = opts;
    const stdout = new BoundedOutput(limit);
    const stderr = new BoundedOutput(limit);
    let exit: { code: number | null; signal: string | null } | undefined;
    let done = false;
    const finish = (outcome: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      outcome();
    };
    const abandon = (err: unknown) =>
      finish(() => {
        channel.close();
        reject(err);
      });
    const onAbort = () => abandon(signal?.reason);
    const timer = setTimeout(
      () =>
        abandon(
          new RemoteError("exec_timeout", `${this.where}: command did not finish within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    channel.on("data", (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    channel.on("exit", (code: number | null, exitSignal?: string) => {
      exit = { code: code ?? null, signal: exitSignal ?? null };
    });
    channel.on("close", () => {
      if (exit === undefined) return abandon(this.lost("the command ended without an exit status"));
      const result = { ...exit, stdout: stdout.text(), stderr: stderr.text() };
      finish(() => resolve({ ...result, truncated: stdout.truncated || stderr.truncated }));
    });
    channel.end(opts.stdin === undefined ? undefined : Buffer.from(opts.stdin));
  }

  private lost(what: string, cause?: unknown): RemoteError {
    const reason = this.lastError ? ` (${this.lastError.message})` : "";
    return new RemoteError("connection_lost", `${this.where}: ${what}${reason}`, {
      cause: cause ?? this.lastError,
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const force = setTimeout(() => this.client.destroy(), CLOSE_GRACE_MS);
      this.client.once("close", () => {
        clearTimeout(force);
        resolve();
      });
      this.client.end();
    });
  }
}
