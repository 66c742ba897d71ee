/**
 * The first of `ports` that cannot be bound on `host` right now, or undefined if all can.
 * A pre-flight check: bunqueue's own bind error names neither the port nor which of its two servers failed.
 */
export function findUnbindablePort(host: string, ports: readonly number[]): number | undefined {
  for (const port of ports) {
    try {
      const probe = Bun.listen({ hostname: host, port, socket: { data() {} } });
      probe.stop(true);
    } catch (err) {
      if (err instanceof Error) return port;
      throw err;
    }
  }
  return undefined;
}
