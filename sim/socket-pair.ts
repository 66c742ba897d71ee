/** Two connected sockets relayed both ways: the relays of the container lab and of the stand-in machines. */
import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";

/** A Unix socket path, or a TCP address (a connection may leave from `localAddress`). */
export type RelayEndpoint = { path: string } | { host: string; port: number; localAddress?: string };

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

/** Listens on `listen` and joins each connection to a new one to `connect`; resolves once listening. */
export async function relay(listen: RelayEndpoint, connect: RelayEndpoint): Promise<Server> {
  const server = createServer((inbound) => joinSockets(inbound, createConnection(connect)));
  await once(server.listen(listen), "listening");
  return server;
}
