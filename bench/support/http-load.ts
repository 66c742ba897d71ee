/**
 * A lean HTTP/1.1 load generator: keep-alive TCP connections, each sending its next pre-serialized request as
 * soon as the previous answer is complete. fetch() spends about as much CPU per request as the server under
 * test does, and on a 2-core box a load generator's CPU is taken from the server it measures.
 */
import type { Socket } from "bun";

export interface LoadRequest {
  method: string;
  path: string;
  headers: Readonly<Record<string, string>>;
  body: string;
}

export interface LoadAnswer {
  status: number;
  body: string;
  /** From writing the request to reading the last byte of the answer, in ms. */
  latencyMs: number;
}

export interface LoadOptions {
  host: string;
  port: number;
  connections: number;
  requests: readonly LoadRequest[];
  onAnswer(answer: LoadAnswer, request: LoadRequest): void;
}

/** Sends every request once, `connections` at a time; resolves with the wall time taken, in seconds. */
export async function runLoad(options: LoadOptions): Promise<number> {
  const wire = options.requests.map((request) => serialize(request, options.host));
  let next = 0;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      const connection = await connect(options.host, options.port);
      try {
        for (let index = next++; index < wire.length; index = next++) {
          const sentAt = performance.now();
          const { status, body } = await connection.exchange(wire[index] as Uint8Array);
          options.onAnswer(
            { status, body, latencyMs: performance.now() - sentAt },
            options.requests[index] as LoadRequest,
          );
        }
      } finally {
        connection.close();
      }
    }),
  );
  return (performance.now() - startedAt) / 1000;
}

function serialize(request: LoadRequest, host: string): Uint8Array {
  const body = Buffer.from(request.body);
  const headers = Object.entries({ ...request.headers, host, "content-length": String(body.length) })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return Buffer.concat([Buffer.from(`${request.method} ${request.path} HTTP/1.1\r\n${headers}\r\n`), body]);
}

interface Connection {
  exchange(request: Uint8Array): Promise<{ status: number; body: string }>;
  close(): void;
}

const HEADER_END = Buffer.from("\r\n\r\n");

async function connect(hostname: string, port: number): Promise<Connection> {
  let buffered: Buffer = Buffer.alloc(0);
  let unsent: Uint8Array | undefined;
  const send = (socket: Socket, bytes: Uint8Array) => {
    const written = socket.write(bytes);
    unsent = written < bytes.length ? bytes.subarray(Math.max(written, 0)) : undefined;
  };
  let pending:
    | { resolve(answer: { status: number; body: string }): void; reject(err: Error): void }
    | undefined;
  const settle = () => {
    const answer = pending && parseAnswer(buffered);
    if (!answer || !pending) return;
    buffered = buffered.subarray(answer.length);
    const { resolve } = pending;
    pending = undefined;
    resolve(answer);
  };
  const fail = (err: Error) => {
    pending?.reject(err);
    pending = undefined;
  };
  const socket: Socket = await Bun.connect({
    hostname,
    port,
    socket: {
      data(_socket, chunk) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        settle();
      },
      drain(socket) {
        if (unsent) send(socket, unsent);
      },
      close: () => fail(new Error("the server closed the connection")),
      error: (_socket, err) => fail(err),
    },
  });
  return {
    exchange(request) {
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        send(socket, request);
      });
    },
    close: () => socket.end(),
  };
}

/** One complete answer at the start of `bytes` (Content-Length framing, as Bun.serve answers), or null. */
function parseAnswer(bytes: Buffer): { status: number; body: string; length: number } | null {
  const headerEnd = bytes.indexOf(HEADER_END);
  if (headerEnd < 0) return null;
  const head = bytes.subarray(0, headerEnd).toString("latin1");
  const lengthHeader = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!lengthHeader) throw new Error(`answer without Content-Length: ${head.split("\r\n")[0]}`);
  const bodyStart = headerEnd + HEADER_END.length;
  const length = bodyStart + Number(lengthHeader[1]);
  if (bytes.length < length) return null;
  const status = Number(head.slice(9, 12));
  return { status, body: bytes.subarray(bodyStart, length).toString("utf8"), length };
}
