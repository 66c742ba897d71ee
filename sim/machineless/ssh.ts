/**
 * A machineless server's sshd, in the simulator's process: its own address and the shared port, as a real
 * server's, and its own host key. ssh2 fixes a Server's host keys when it is made, so each server gets an
 * ssh2 Server of its own, made at its first connection (sockets are injected; none listens by itself).
 * Public-key logins against the accounts its boot created; `exec` only, answered by commands.ts.
 */
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { type AuthContext, type Connection, type ServerChannel, Server as SshServer } from "ssh2";
import { coalesceWritesPerTick } from "../../core/coalesce-writes.ts";
import { answerCommand } from "./commands.ts";
import type { LoginAccount, MachinelessState } from "./state.ts";

export interface MachinelessSshOptions {
  address: string;
  port: number;
  /** OpenSSH-format private host key. */
  hostKey: string;
  state: MachinelessState;
  /** Asked on every new TCP connection; true drops it right after the client starts its handshake. */
  shouldDrop(): boolean;
  /** Receives answers that threw (a bug here); the client sees exit 255. */
  onError(error: Error): void;
}

export interface MachinelessSsh {
  /** Stops listening and cuts every open connection. */
  close(): Promise<void>;
}

export async function startMachinelessSsh(options: MachinelessSshOptions): Promise<MachinelessSsh> {
  let ssh: SshServer | null = null;
  const sockets = new Set<Socket>();
  const lifetime = new AbortController();
  const listener = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (options.shouldDrop()) {
      socket.once("data", () => socket.destroy());
      return;
    }
    ssh ??= new SshServer({ hostKeys: [options.hostKey] }, (client) =>
      serveClient(client, options, lifetime.signal),
    );
    ssh.injectSocket(coalesceWritesPerTick(socket));
  });
  await listen(listener, options.address, options.port);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        lifetime.abort();
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  };
}

function serveClient(client: Connection, options: MachinelessSshOptions, lifetime: AbortSignal): void {
  let account: LoginAccount | null = null;
  client.on("authentication", (context) => {
    account = authenticate(options.state, context);
    if (account) context.accept();
    else context.reject(["publickey"]);
  });
  client.on("ready", () => {
    client.on("session", (acceptSession) => {
      const session = acceptSession();
      session.on("exec", (accept, reject, info) => {
        if (!account) return reject();
        runExec(options, account, info.command, accept(), lifetime);
      });
      session.on("pty", (_accept, reject) => reject());
      session.on("shell", (_accept, reject) => reject());
      session.on("subsystem", (_accept, reject) => reject());
      session.on("x11", (_accept, reject) => reject());
    });
    client.on("tcpip", (_accept, reject) => reject());
    client.on("openssh.streamlocal", (_accept, reject) => reject());
    client.on("request", (_accept, reject) => reject?.());
  });
  // A client vanishing mid-handshake is normal traffic for a server, not a simulator failure.
  client.on("error", () => client.end());
}

/** The account when the key is in its authorized keys (and, once signed, the signature holds); else null. */
function authenticate(state: MachinelessState, context: AuthContext): LoginAccount | null {
  if (context.method !== "publickey") return null;
  const account = state.accounts.get(context.username);
  const key = account?.keys.find((candidate) => candidate.getPublicSSH().equals(context.key.data));
  if (!account || !key) return null;
  if (context.signature && context.blob)
    return key.verify(context.blob, context.signature, context.hashAlgo) === true ? account : null;
  return account;
}

/** Reads stdin to its EOF, answers, then sends output and exit status; a closed channel abandons the answer. */
function runExec(
  options: MachinelessSshOptions,
  account: LoginAccount,
  command: string,
  channel: ServerChannel,
  lifetime: AbortSignal,
): void {
  const chunks: Buffer[] = [];
  const gone = new AbortController();
  const abandon = () => gone.abort();
  lifetime.addEventListener("abort", abandon, { once: true });
  channel.once("close", abandon);
  channel.on("data", (chunk: Buffer) => chunks.push(chunk));
  channel.once("end", () => {
    answerCommand(options.state, account, command, Buffer.concat(chunks), gone.signal)
      .then(
        (answer) => {
          if (gone.signal.aborted) return;
          // Answers are a few KB, well inside the client's window: written now, they precede the status.
          if (answer.stdout) channel.write(answer.stdout);
          if (answer.stderr) channel.stderr.write(answer.stderr);
          channel.exit(answer.code);
          channel.end();
        },
        (error: Error) => {
          if (gone.signal.aborted) return;
          options.onError(error);
          channel.exit(255);
          channel.end();
        },
      )
      .finally(() => lifetime.removeEventListener("abort", abandon));
  });
}

function listen(listener: NetServer, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    listener.once("error", reject);
    listener.listen({ host: address, port, exclusive: true }, () => {
      listener.off("error", reject);
      resolve();
    });
  });
}
