import { describe, expect, test } from "bun:test";
import { createClientAddress } from "../../api/client-address.ts";

const forwarded = (value: string) => new Headers({ "x-forwarded-for": value });

describe("client address on the public listener", () => {
  const behindProxy = createClientAddress(["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);

  test("no trusted proxies: the TCP peer, whatever the header claims", () => {
    const direct = createClientAddress([]);
    expect(direct("203.0.113.9", forwarded("198.51.100.7"))).toBe("203.0.113.9");
    expect(direct(null, forwarded("198.51.100.7"))).toBeNull();
  });

  test("a peer that is no trusted proxy is the client; its forged header is ignored", () => {
    expect(behindProxy("203.0.113.9", forwarded("198.51.100.7"))).toBe("203.0.113.9");
  });

  test("from a trusted proxy: the rightmost address no trusted proxy added", () => {
    expect(behindProxy("127.0.0.1", forwarded("198.51.100.7"))).toBe("198.51.100.7");
    // A client's own forged entry sits left of what the proxies appended.
    expect(behindProxy("127.0.0.1", forwarded("192.0.2.1, 198.51.100.7, 10.1.2.3"))).toBe("198.51.100.7");
    expect(behindProxy("::1", forwarded("2001:db8::5"))).toBe("2001:db8::5");
    expect(behindProxy("127.0.0.1", forwarded("::ffff:198.51.100.7"))).toBe("198.51.100.7");
  });

  test("from a trusted proxy: no header is the proxy itself; garbage is unknown; only proxies is the first", () => {
    expect(behindProxy("127.0.0.1", new Headers())).toBe("127.0.0.1");
    expect(behindProxy("127.0.0.1", forwarded("not-an-ip"))).toBeNull();
    expect(behindProxy("127.0.0.1", forwarded("198.51.100.7, junk"))).toBeNull();
    expect(behindProxy("127.0.0.1", forwarded("10.0.0.5, 10.0.0.6"))).toBe("10.0.0.5");
  });
});
