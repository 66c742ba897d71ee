/**
 * Reading request bodies with a size limit. A declared Content-Length over the limit is refused before
 * reading; a chunked body states no length, so the limit is also enforced while reading.
 */
import { HttpError } from "./http-error.ts";

/** The raw body, at most `maxBytes`: 413 `too_large` beyond it. */
export async function readBody(request: Request, maxBytes: number): Promise<Buffer> {
  const length = request.headers.get("content-length");
  if (Number(length ?? 0) > maxBytes) throw tooLarge(maxBytes);
  // A declared length frames the body (Bun refuses one that is also chunked), so it is read whole: a stream
  // costs the webhook path a third of its CPU. A chunked body is counted as it streams in.
  if (length !== null) return Buffer.from(await request.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body ?? []) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The body parsed as JSON, at most `maxBytes`: 413 beyond it, 400 `malformed_json` when it is not JSON. */
export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  return parseJson((await readBody(request, maxBytes)).toString("utf8"));
}

/** 400 `malformed_json` unless `text` is JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) throw new HttpError(400, "malformed_json", "body must be JSON");
    throw err;
  }
}

const tooLarge = (maxBytes: number) =>
  new HttpError(413, "too_large", `body must be at most ${maxBytes} bytes`);
