/** Two connected sockets relayed both ways: the relays of the container lab and of the stand-in machines. */
import type { Socket } from "node:net";

/** Pipes each into the other; an error or close on either side destroys both. */
export function joinSockets(inbound: Socket, outbound: Socket): void {
  inbound.pipe(outbound).pipe(inbound);
  for (const [a, b] of [
    [inbound, outbound],
    [outbound, inbound],
  ] as const) {
    a.on("error", () => b.destroy());
    a.on("close", () => b.destroy());
  }
}
