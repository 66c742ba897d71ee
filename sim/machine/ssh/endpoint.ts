import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { type AuthContext, type Connection, type ServerChannel, Server as SshServer } from "ssh2";
import { coalesceWritesPerTick } from "../../../core/coalesce-writes.ts";
import type { Sandbox, SandboxUser, SessionCommand } from "../sandbox/sandbox.ts";
import { type Account, lookupAccount } from "./accounts.ts";
import { relayInput, relayOutput } from "./command-io.ts";

export interface SshEndpointOptions {
  address: string;
  port: number;
  /** OpenSSH-format private host key. */
  hostKey: string;
  /** The box commands run in; logins wait until it is ready (a failed one refuses them). */
  sandbox: Promise<Sandbox>;
  /** Asked on every new TCP connection; true drops it right after the client starts its handshake. */
  shouldDrop(): boolean;
  /** Receives account-lookup failures; the client itself just sees its login refused. */
  onError(error: Error): void;
}

export interface SshEndpoint {
  /** Stops listening and cuts every open connection. */
  close(): Promise<void>;
}

/** Listens on `address:port` and serves public-key-authenticated `exec` requests from the sandbox. */
export async function startSshEndpoint(options: SshEndpointOptions): Promise<SshEndpoint> {
  const ssh = new SshServer({ hostKeys: [options.hostKey] }, (client) => serveClient(client, options));
  const sockets = new Set<Socket>();
  const listener = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (options.shouldDrop()) socket.once("data", () => socket.destroy());
    else ssh.injectSocket(coalesceWritesPerTick(socket));
  });
  // events.once rejects with the listener's error (the address in use) instead of waiting forever.
  await once(listener.listen({ host: options.address, port: options.port, exclusive: true }), "listening");
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  };
}

/** One SSH connection: public-key auth, then exec sessions; ssh2 refuses every request nobody listens for. */
function serveClient(client: Connection, options: SshEndpointOptions): void {
  let account: Account | null = null;
  // A client asks "would this key do?" before signing; both questions read the same account once.
  const accounts = new Map<string, Promise<Account | null>>();
  const lookup = (username: string) => {
    const cached = accounts.get(username) ?? options.sandbox.then((box) => lookupAccount(box, username));
    accounts.set(username, cached);
    return cached;
  };
  client.on("authentication", (context) => {
    authenticate(lookup, context).then(
      (accepted) => {
        account = accepted;
        if (accepted) context.accept();
        else context.reject(["publickey"]);
      },
      (error: Error) => {
        options.onError(error);
        context.reject(["publickey"]);
      },
    );
  });
  client.on("ready", () => {
    client.on("session", (acceptSession) => {
      const session = acceptSession();
      session.on("exec", (accept, reject, info) => {
        const user = account?.user;
        if (!user) return reject();
        // Accepted at once: OpenSSH with stdin at EOF (`ssh host cmd </dev/null`) sends its EOF right after
        // the request, and ssh2 accepts nothing on a session that has seen it.
        const channel = accept();
        // The account came from the sandbox, so it is ready by now.
        void options.sandbox.then((box) => runExec(box, user, info.command, channel));
      });
    });
  });
  // A client vanishing mid-handshake is normal traffic for a server, not a simulator failure.
  client.on("error", () => client.end());
}

/** Public-key auth against the user's authorized_keys inside the box; returns the account on success. */
async function authenticate(
  lookup: (username: string) => Promise<Account | null>,
  context: AuthContext,
): Promise<Account | null> {
  if (context.method !== "publickey") return null;
  const account = await lookup(context.username);
  const key = account?.keys.find((candidate) => candidate.getPublicSSH().equals(context.key.data));
  if (!account || !key) return null;
  if (context.signature && context.blob) {
    return key.verify(context.blob, context.signature, context.hashAlgo) === true ? account : null;
  }
  return account;
}

/** Runs `command` with the user's shell in the sandbox, wiring stdin/stdout/stderr and the exit status. */
function runExec(sandbox: Sandbox, user: SandboxUser, command: string, channel: ServerChannel): void {
  let child: SessionCommand;
  try {
    child = sandbox.startSession([user.shell, "-c", command], user);
  } catch (error) {
    channel.stderr.write(`${(error as Error).message}\n`);
    channel.exit(255);
    channel.end();
    return;
  }
  relayInput(channel, child.stdin);
  // As sshd does once the command exits: nothing more can reach it.
  void child.exited.then(() => Promise.resolve(child.stdin.end()).catch(() => undefined));
  // Settled, not fulfilled: as with sshd, the exit status goes out even if a pipe broke mid-relay.
  const output = Promise.allSettled([
    relayOutput(child.stdout, channel),
    relayOutput(child.stderr, channel.stderr),
  ]);
  void Promise.all([output, child.exited]).then(() =>
    // Output still waiting for the client's window must go out before the exit status.
    afterFlush(channel, () => {
      if (child.signalCode) channel.exit(String(child.signalCode).replace(/^SIG/, ""), false, "");
      else channel.exit(child.exitCode ?? 255);
      channel.end();
    }),
  );
  // Like sshd, a client that goes away takes its command with it.
  channel.once("close", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
}

/** Calls `then` once the channel has handed all queued output to the connection (polled: ssh2 has no event for it). */
function afterFlush(channel: ServerChannel, then: () => void): void {
  if (channel.destroyed) return;
  if (channel.writableLength === 0 && channel.stderr.writableLength === 0) then();
  else setTimeout(() => afterFlush(channel, then), 5);
}
