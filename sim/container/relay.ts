/**
 * Byte relays between network namespaces, joined through Unix sockets (which every namespace sees
 * in the shared filesystem). `bun relay.ts LISTEN>CONNECT…`, run inside the lab, serves each
 * mapping: every connection accepted on LISTEN is joined to a new connection to CONNECT, where an
 * endpoint is `unix:/path` or `tcp:host:port`. Prints "ready" once all listen; exits on SIGTERM.
 * The host side of a lab crossing runs the same `relay` (sim/socket-pair.ts) in-process.
 */
import { type RelayEndpoint, relay } from "../socket-pair.ts";

export function parseEndpoint(text: string): RelayEndpoint {
  if (text.startsWith("unix:")) return { path: text.slice("unix:".length) };
  const match = /^tcp:(.+):(\d+)$/.exec(text);
  if (!match?.[1] || !match[2])
    throw new Error(`relay endpoint '${text}' is neither unix:PATH nor tcp:HOST:PORT`);
  return { host: match[1], port: Number(match[2]) };
}

export function formatEndpoint(endpoint: RelayEndpoint): string {
  return "path" in endpoint ? `unix:${endpoint.path}` : `tcp:${endpoint.host}:${endpoint.port}`;
}

if (import.meta.main) {
  const mappings = Bun.argv.slice(2).map((arg) => arg.split(">"));
  if (mappings.length === 0 || mappings.some((pair) => pair.length !== 2)) {
    console.error("usage: bun relay.ts LISTEN>CONNECT… (endpoints unix:PATH or tcp:HOST:PORT)");
    process.exit(2);
  }
  await Promise.all(mappings.map(([from = "", to = ""]) => relay(parseEndpoint(from), parseEndpoint(to))));
  console.log("ready");
  // Open connections would hold a graceful close forever; relays stop only with the lab.
  process.on("SIGTERM", () => process.exit(0));
}
