import type { Socket } from "node:net";

/**
 * ssh2 hands every packet to its socket in three writes (length, ciphertext, tag), each a system call
 * (and, on loopback, a wake-up of the peer) of its own; corked until the current tick ends, what was
 * written in that tick leaves in one. A destroy within the tick sends what was written first, as it
 * would have been uncorked (e.g. the DISCONNECT ssh2 writes just before it drops a refused host key).
 * Used by both ends of our SSH: the provisioner's client and the simulator's fake machines.
 */
export function coalesceWritesPerTick(socket: Socket): Socket {
  const { write, destroy } = socket;
  let corked = false;
  const flush = () => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Socket, ...args: Parameters<Socket["write"]>): boolean {
    if (!corked) {
      corked = true;
      this.cork();
      process.nextTick(flush);
    }
    return Reflect.apply(write, this, args);
  } as Socket["write"];
  socket.destroy = function (this: Socket, ...args: Parameters<Socket["destroy"]>): Socket {
    flush();
    return Reflect.apply(destroy, this, args);
  } as Socket["destroy"];
  return socket;
}
