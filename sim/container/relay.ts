/**
 * `bun relay.ts SOCKET HOST PORT`, run inside the lab: each connection to the Unix socket SOCKET is
 * joined to a new TCP connection to HOST:PORT. Prints "ready" once listening; exits on SIGTERM.
 */
import { createConnection, createServer } from "node:net";

const [socketPath, host, port] = Bun.argv.slice(2);
if (!socketPath || !host || !port) {
  console.error("usage: bun relay.ts SOCKET HOST PORT");
  process.exit(2);
}

const server = createServer((inbound) => {
  const outbound = createConnection({ host, port: Number(port) });
  inbound.pipe(outbound).pipe(inbound);
  inbound.on("error", () => outbound.destroy());
  outbound.on("error", () => inbound.destroy());
  inbound.on("close", () => outbound.destroy());
  outbound.on("close", () => inbound.destroy());
});
server.listen(socketPath, () => console.log("ready"));
// Open connections would hold close() forever; the lab stops relays only when it is torn down.
process.on("SIGTERM", () => process.exit(0));
