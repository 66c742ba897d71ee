/** readBody behind a real Bun.serve, fed raw HTTP/1.1 so each framing is exactly what a client could send. */
import { afterAll, expect, test } from "bun:test";
import { readBody } from "../../api/body.ts";
import { HttpError } from "../../api/http-error.ts";
import { rawHttp } from "../support/raw-http.ts";

const LIMIT = 1024;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: async (request) => {
    try {
      return new Response(String((await readBody(request, LIMIT)).length));
    } catch (err) {
      if (err instanceof HttpError) return new Response(err.code, { status: err.status });
      throw err;
    }
  },
});
afterAll(() => server.stop(true));
const port = server.port ?? 0;

/** Sends `head` and `body` as they are and returns the status line's code (0 when the connection just closes). */
const exchange = async (head: string, body: string) =>
  (await rawHttp("127.0.0.1", port, `${head}\r\n\r\n${body}`)).status;

const chunked = (size: number) => `${size.toString(16)}\r\n${"x".repeat(size)}\r\n0\r\n\r\n`;

test("a body with a declared length within the limit is read whole", async () => {
  const body = "y".repeat(LIMIT);
  const head = `POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}`;
  expect(await exchange(head, body)).toBe(200);
});

test("a declared length over the limit is refused before reading: 413", async () => {
  const head = `POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${LIMIT + 1}`;
  expect(await exchange(head, "z".repeat(LIMIT + 1))).toBe(413);
});

test("a chunked body over the limit is stopped while streaming: 413", async () => {
  const head = "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked";
  expect(await exchange(head, chunked(LIMIT * 4))).toBe(413);
});

test("a request declaring a length and chunks is refused by the server before readBody trusts the length", async () => {
  const head =
    "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\nTransfer-Encoding: chunked";
  expect(await exchange(head, chunked(LIMIT * 4))).toBe(400);
});
