/**
 * HTTP/1.x over a raw loopback TCP socket, for requests `fetch` refuses to send: a malformed Host, no Host
 * at all, HTTP/1.0, invented methods. The request is written as given; the answer is read until the
 * server closes the connection (send `Connection: close`, or HTTP/1.0).
 */

export interface RawAnswer {
  /** Status code from the status line; 0 when the server closed without answering. */
  status: number;
  headers: Headers;
  body: string;
  /** Everything the server sent. */
  raw: string;
}

/** Sends `request` (bytes or text, sent verbatim) to host:port and reads the whole answer. */
export function rawHttp(host: string, port: number, request: string | Uint8Array): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = () => resolve(parseAnswer(Buffer.concat(chunks).toString("latin1")));
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: (socket) => {
          socket.write(request);
        },
        data: (_socket, data) => {
          chunks.push(Buffer.from(data));
        },
        close: done,
        end: (socket) => {
          socket.end();
        },
        error: (_socket, err) => reject(err),
        connectError: (_socket, err) => reject(err),
      },
    }).catch(reject);
  });
}

function parseAnswer(raw: string): RawAnswer {
  const headerEnd = raw.indexOf("\r\n\r\n");
  const head = headerEnd === -1 ? raw : raw.slice(0, headerEnd);
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const rest = headerEnd === -1 ? "" : raw.slice(headerEnd + 4);
  const body = headers.get("transfer-encoding")?.includes("chunked") ? unchunk(rest) : rest;
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body, raw };
}

function unchunk(text: string): string {
  let body = "";
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf("\r\n", at);
    const size = Number.parseInt(text.slice(at, lineEnd), 16);
    if (lineEnd === -1 || !(size > 0)) return body;
    body += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}
