/**
 * `bun lab-listener.ts HOST`, started inside the lab: answers every HTTP request with 200 and prints one
 * JSON line per request (method, path, the real TCP peer address, form body). The first line is
 * `{"port": N}`, the ephemeral port it listens on.
 */
const host = Bun.argv[2];
if (!host) {
  console.error("usage: bun lab-listener.ts HOST");
  process.exit(2);
}
const server = Bun.serve({
  hostname: host,
  port: 0,
  async fetch(request, self) {
    const line = {
      method: request.method,
      path: new URL(request.url).pathname,
      peer: self.requestIP(request)?.address ?? null,
      body: await request.text(),
      at: Date.now(),
    };
    console.log(JSON.stringify(line));
    return new Response("ok\n");
  },
});
console.log(JSON.stringify({ port: server.port }));
process.on("SIGTERM", () => process.exit(0));
