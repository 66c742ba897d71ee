/**
 * An authenticated SSH connection seen as a thing that runs commands: `exec` with stdin, bounded output,
 * a deadline enforced on both ends, typed errors. Built by `connectPinned` (ssh.ts).
 */
import type { Client, ClientChannel } from "ssh2";
import { RemoteError } from "./errors.ts";
import { shellQuote } from "./shell-quote.ts";

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

const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
const CLOSE_GRACE_MS = 2_000;
/** Exit status of coreutils `timeout` once it stopped a command at its remote deadline. */
export const REMOTE_TIMEOUT_EXIT = 124;
/** Seconds between the remote TERM and KILL of a command past its deadline. */
const REMOTE_KILL_GRACE_S = 2;

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

export class PinnedSession implements RemoteSession {
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
      const onChannel = (err: Error | undefined, channel: ClientChannel) => {
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
      };
      try {
        this.client.exec(boundedRemotely(command, opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS), onChannel);
      } catch (err) {
        // ssh2 throws "Not connected" when the socket died before our close handler ran.
        signal?.removeEventListener("abort", onEarlyAbort);
        reject(this.lost("the connection is gone", err));
      }
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
