/**
 * A loopback HTTP proxy in front of the simulator: records every request body, and can let a request
 * reach the simulator and then close the client's connection instead of relaying the answer (the
 * "request processed, response lost" case the simulator's own `drop` fault, which fires before
 * processing, cannot produce).
 */
export interface ProxiedRequest {
  method: string;
  /** Path as sent, including /v1, without the query. */
  path: string;
  query: string;
  body: unknown;
}

export interface RecordingProxy {
  /** Endpoint to give the client, including /v1. */
  endpoint: string;
  recorded: ProxiedRequest[];
  /** The next request with this method and path is processed upstream, then its connection is dropped. */
  loseNextResponse(method: string, path: string): void;
  stop(): Promise<void>;
}

/** A response whose body errors before any byte is sent, so the client sees the connection close. */
function lostResponse(): Response {
  return new Response(
    new ReadableStream({
      start(controller) {
        controller.error();
      },
    }),
  );
}

export function startRecordingProxy(upstreamBaseUrl: string): RecordingProxy {
  const recorded: ProxiedRequest[] = [];
  const toLose: { method: string; path: string }[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const text = await request.text();
      recorded.push({
        method: request.method,
        path: url.pathname,
        query: url.search,
        body: text ? JSON.parse(text) : undefined,
      });
      const upstream = await fetch(`${upstreamBaseUrl}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        body: text || undefined,
      });
      const lose = toLose.findIndex((l) => l.method === request.method && l.path === url.pathname);
      if (lose === -1) return upstream;
      toLose.splice(lose, 1);
      await upstream.arrayBuffer();
      return lostResponse();
    },
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}/v1`,
    recorded,
    loseNextResponse: (method, path) => toLose.push({ method, path }),
    stop: () => server.stop(true),
  };
}
