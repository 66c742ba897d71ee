/**
 * cloud-init's phone_home as a machineless server sends it: a form POST from the server's own address,
 * retried as cloud-init's url_helper does.
 */
import http from "node:http";
import https from "node:https";
import { sleep } from "../../core/abort.ts";

/** How long one phone_home POST may take before it counts as a failed attempt, in ms. */
const ATTEMPT_TIMEOUT_MS = 10_000;

export interface PhoneHomeOptions {
  /** Target URL, already with `$INSTANCE_ID` substituted. */
  url: URL;
  fields: Record<string, string>;
  /** Total attempts, as cloud-init's `tries` (at least 1). */
  tries: number;
  /** Pause between attempts, in ms (cloud-init waits 3 s, scaled by the caller). */
  spacingMs: number;
  /** The machine's own address: requests leave from it, as they would from a real server's public IP. */
  localAddress: string;
  signal: AbortSignal;
  /** Called after every attempt with the HTTP status, or null when no response came. */
  onAttempt(status: number | null): void;
}

/** POSTs the form to `url` up to `tries` times; true once a 2xx/3xx answer arrives. Rejects when `signal` aborts. */
export async function phoneHome(options: PhoneHomeOptions): Promise<boolean> {
  const body = new URLSearchParams(options.fields).toString();
  for (let attempt = 1; attempt <= options.tries; attempt++) {
    options.signal.throwIfAborted();
    const status = await postForm(options.url, body, options.localAddress, options.signal);
    options.onAttempt(status);
    if (status !== null && status >= 200 && status < 400) return true;
    if (attempt < options.tries) await sleep(options.spacingMs, options.signal);
  }
  return false;
}

/** One POST; resolves to the status, or null on a network error or timeout (cloud-init just retries those). */
function postForm(
  target: URL,
  body: string,
  localAddress: string,
  signal: AbortSignal,
): Promise<number | null> {
  return new Promise((resolve) => {
    const transport = target.protocol === "https:" ? https : http;
    const request = transport.request(
      target,
      {
        method: "POST",
        localAddress,
        signal,
        timeout: ATTEMPT_TIMEOUT_MS,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "content-length": Buffer.byteLength(body),
          "user-agent": "Cloud-Init/25.1",
        },
      },
      (response) => {
        response.resume();
        response.once("end", () => resolve(response.statusCode ?? null));
        response.once("error", () => resolve(response.statusCode ?? null));
      },
    );
    request.once("timeout", () => request.destroy());
    request.once("error", () => resolve(null));
    request.end(body);
  });
}
