/**
 * Operating-system pipes for a session's stdin, stdout and stderr. sshd gives a command pipes, and tools rely
 * on it (`install -m 600 /dev/stdin FILE`, `echo x >/dev/stderr` cannot open a socket), but Bun.spawn's
 * "pipe" stdio are socket pairs. pipe(2) has no binding in Bun or node, so it is called through bun:ffi;
 * the alternative, relays inside the box turning sockets into pipes, costs the host four processes a session.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { closeSync, fchownSync } from "node:fs";
import type { FileSink } from "bun";
import { MachineError } from "../errors.ts";

/** A pipe end reaches a child only where Bun.spawn places it as stdin, stdout or stderr, never inherited. */
const O_CLOEXEC = 0o2000000;

const libc = dlopen("libc.so.6", { pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 } });

export interface OsPipe {
  read: number;
  write: number;
}

/**
 * A new pipe, both ends close-on-exec, owned by `owner` when given: a pipe is mode 0600, and a box running
 * as another uid than the simulator could not reopen it (`/dev/stdin`), where one made by sshd is the user's.
 */
function osPipe(owner: number | null): OsPipe {
  const fds = new Int32Array(2);
  if (libc.symbols.pipe2(ptr(fds), O_CLOEXEC) !== 0) {
    throw new MachineError("sandbox_unavailable", "cannot create a pipe for the session (pipe2 failed)");
  }
  const [read = -1, write = -1] = fds;
  try {
    if (owner !== null) fchownSync(read, owner, owner);
  } catch (error) {
    closeSync(read);
    closeSync(write);
    throw error;
  }
  return { read, write };
}

/** The three pipes of a session's stdin, stdout and stderr; none is left open if one cannot be made. */
export function sessionPipes(owner: number | null): { input: OsPipe; output: OsPipe; errors: OsPipe } {
  const made: OsPipe[] = [];
  try {
    for (let i = 0; i < 3; i++) made.push(osPipe(owner));
  } catch (error) {
    for (const pipe of made) {
      closeSync(pipe.read);
      closeSync(pipe.write);
    }
    throw error;
  }
  const [input, output, errors] = made as [OsPipe, OsPipe, OsPipe];
  return { input, output, errors };
}

/**
 * The writing end of a pipe as the stdin of a session: writes after `end` (or once the command is gone) are
 * dropped, and the descriptor is closed exactly once, after the last write was handed to the kernel, so a
 * reused descriptor number never receives a stale write.
 */
export class PipeInput {
  readonly #fd: number;
  readonly #sink: FileSink;
  #ended: Promise<void> | null = null;

  constructor(fd: number) {
    this.#fd = fd;
    this.#sink = Bun.file(fd).writer();
  }

  write(chunk: Uint8Array | string): void {
    if (this.#ended === null) this.#sink.write(chunk);
  }

  /** Resolves once what was written is in the pipe; rejects if the reader is gone (EPIPE). */
  flush(): Promise<unknown> | number {
    if (this.#ended !== null) return 0;
    return this.#sink.flush();
  }

  /** Flushes, then closes the pipe: the command reads its end of file. Idempotent; never rejects. */
  end(): Promise<void> {
    this.#ended ??= (async () => {
      try {
        await this.#sink.end();
      } catch {
        // The command exited without reading all of its input; sshd drops the rest the same way.
      } finally {
        closeSync(this.#fd);
      }
    })();
    return this.#ended;
  }
}

/** The reading end of a pipe as a stream, the descriptor closed once the stream ends, fails or is cancelled. */
export function pipeOutput(fd: number): ReadableStream<Uint8Array> {
  const reader = Bun.file(fd).stream().getReader();
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (!done) return controller.enqueue(value);
        close();
        controller.close();
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).finally(close);
    },
  });
}
