import type { Writable } from "node:stream";
import type { FileSink } from "bun";
import type { ServerChannel } from "ssh2";

/**
 * Feeds what the client sends on `channel` to a command's stdin, then its EOF; the channel is paused while
 * the command is behind. A command may exit without reading its input; what it never reads is dropped, as
 * with real sshd.
 */
export function relayInput(channel: ServerChannel, stdin: FileSink): void {
  const dropBrokenPipe = () => undefined;
  channel.on("data", (chunk: Buffer) => {
    try {
      stdin.write(chunk);
      const flushed = stdin.flush();
      if (!(flushed instanceof Promise)) return;
      channel.pause();
      flushed.then(() => channel.resume(), dropBrokenPipe);
    } catch {
      // The command has exited: sshd drops the rest the same way.
    }
  });
  channel.once("end", () => {
    Promise.resolve()
      .then(() => stdin.end())
      .catch(dropBrokenPipe);
  });
}

/**
 * Copies a command's output to `to` until it ends, waiting while `to` is full; once `to` is closed (the
 * client went away) the rest is read and dropped, so the command is never blocked on a dead session.
 */
export async function relayOutput(from: ReadableStream<Uint8Array>, to: Writable): Promise<void> {
  for await (const chunk of from) {
    if (to.destroyed || to.writableEnded) continue;
    if (!to.write(chunk)) await drained(to);
  }
}

/** Resolves once `stream` can take more, or is closed. */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}
