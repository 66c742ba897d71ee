/**
 * The caller's address on the public listener. Behind a reverse proxy every TCP peer is the proxy, so the
 * client comes from X-Forwarded-For, but only when the peer is a trusted proxy: from anyone else the
 * header is the caller's own claim and is ignored. Each proxy appends the address it saw, so the header
 * is read from the right, past trusted proxies (a chain of them); the first other address is the client.
 */
import { BlockList, isIP } from "node:net";

const FORWARDED_FOR_HEADER = "x-forwarded-for";

/** Resolves a request's client address from its TCP peer and headers, given TRUSTED_PROXIES (CIDR blocks). */
export function createClientAddress(
  trustedProxies: readonly string[],
): (peer: string | null, headers: Headers) => string | null {
  const trusted = new BlockList();
  for (const block of trustedProxies) {
    const [address = "", prefix = ""] = block.split("/");
    trusted.addSubnet(address, Number(prefix), isIP(address) === 6 ? "ipv6" : "ipv4");
  }
  const isTrusted = (address: string) => trusted.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");

  return (peer, headers) => {
    if (peer === null || trustedProxies.length === 0 || !isTrusted(peer)) return peer;
    const header = headers.get(FORWARDED_FOR_HEADER);
    // The proxy said nothing of a client: it is the caller itself (a health check, say).
    if (header === null) return peer;
    const chain = header.split(",").map((entry) => plainAddress(entry.trim()));
    for (let index = chain.length - 1; index >= 0; index--) {
      const address = chain[index] ?? "";
      // An entry that is no address cannot be checked against anything: the origin is unknown.
      if (isIP(address) === 0) return null;
      // Only trusted proxies on the way: the first of them is as close to a client as there is.
      if (!isTrusted(address) || index === 0) return address;
    }
    return null;
  };
}

/** An IPv4 peer on a dual-stack socket shows as "::ffff:a.b.c.d"; routes compare plain addresses. */
export function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
