/**
 * The project's Hetzner request budget as seen from this process. Hetzner grants a bucket of
 * RateLimit-Limit requests per project refilled at one per second and reports RateLimit-Remaining on
 * every response; the budget mirrors that bucket, counts requests still in flight against it, and holds
 * new requests back (FIFO) until the bucket should have a token again, so callers pace instead of
 * meeting 429. After a 429 the server reports 0 remaining, so each queued request waits about one
 * refill interval per request ahead of it, never until RateLimit-Reset.
 */
export interface RateLimitBudgetOptions {
  /** Requests the server adds back to the bucket per second (default 1, Hetzner's refill rate). */
  refillPerSecond?: number;
  /** Clock in ms since the epoch (default Date.now); tests inject their own. */
  now?: () => number;
}

export interface RateLimitStats {
  /** Requests sent through this budget since it was created. */
  requests: number;
  /** Responses that were 429 rate_limit_exceeded. */
  rateLimited: number;
  inFlight: number;
  waiting: number;
  /** Last RateLimit-Limit seen, or null before the first response. */
  limit: number | null;
  /** Estimated requests that may be sent right now, or null before the first response. */
  remaining: number | null;
  /** Last RateLimit-Reset seen (unix seconds of full recovery), or null. */
  resetAt: number | null;
}

/** What a finished request reports back; `null` when no response arrived (network error, timeout). */
export type RateLimitOutcome = { status: number; headers: Headers } | null;

export interface RateLimitPermit {
  /** Call exactly once when the request has finished; later calls are ignored. */
  settle(outcome: RateLimitOutcome): void;
}

interface Waiter {
  grant: (permit: RateLimitPermit) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class RateLimitBudget {
  private readonly refillPerSecond: number;
  private readonly now: () => number;
  /** Server-side remaining at `observedAt`, not counting requests still in flight; null until known. */
  private tokens: number | null = null;
  private observedAt = 0;
  private limit: number | null = null;
  private resetAt: number | null = null;
  private inFlight = 0;
  private requests = 0;
  private rateLimited = 0;
  /** Responses received so far; a request that saw others answer while it was out may carry a stale count. */
  private completions = 0;
  private readonly waiters: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: RateLimitBudgetOptions = {}) {
    this.refillPerSecond = options.refillPerSecond ?? 1;
    this.now = options.now ?? Date.now;
    if (!(this.refillPerSecond > 0)) throw new RangeError("refillPerSecond must be greater than 0");
  }

  /** Resolves when one more request may be sent; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<RateLimitPermit> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<RateLimitPermit>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        signal,
        onAbort: () => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(signal?.reason);
          this.pump();
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.pump();
    });
  }

  /** Estimated requests that may be sent right now (in-flight ones deducted), or null before any response. */
  remaining(): number | null {
    const available = this.available();
    return available === null ? null : Math.max(0, Math.floor(available));
  }

  /** Milliseconds until the next request may be sent (0 = now; Infinity = after an in-flight one answers). */
  delayMs(): number {
    const available = this.available();
    // Before the first response the bucket size is unknown: probe with one request at a time.
    if (available === null) return this.inFlight === 0 ? 0 : Number.POSITIVE_INFINITY;
    if (available >= 1) return 0;
    return Math.ceil(((1 - available) / this.refillPerSecond) * 1000);
  }

  stats(): RateLimitStats {
    return {
      requests: this.requests,
      rateLimited: this.rateLimited,
      inFlight: this.inFlight,
      waiting: this.waiters.length,
      limit: this.limit,
      remaining: this.remaining(),
      resetAt: this.resetAt,
    };
  }

  private available(): number | null {
    const tokens = this.refilledTokens();
    return tokens === null ? null : tokens - this.inFlight;
  }

  /** The server's bucket now, estimated from the last observation plus refill, capped at the limit. */
  private refilledTokens(): number | null {
    if (this.tokens === null) return null;
    const refilled = this.tokens + ((this.now() - this.observedAt) / 1000) * this.refillPerSecond;
    return Math.min(this.limit ?? refilled, refilled);
  }

  private pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (let waiter = this.waiters[0]; waiter; waiter = this.waiters[0]) {
      const delay = this.delayMs();
      if (delay > 0) {
        if (Number.isFinite(delay)) this.timer = setTimeout(() => this.pump(), delay);
        return;
      }
      this.waiters.shift();
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.grant(this.dispatch());
    }
  }

  private dispatch(): RateLimitPermit {
    this.inFlight += 1;
    this.requests += 1;
    const completionsAtDispatch = this.completions;
    let settled = false;
    return {
      settle: (outcome) => {
        if (settled) return;
        settled = true;
        this.inFlight -= 1;
        this.record(outcome, this.completions > completionsAtDispatch);
        this.completions += 1;
        this.pump();
      },
    };
  }

  /**
   * Folds one finished request into the estimate. When other responses arrived while it was out, the
   * server may have processed those after it, so its count may be stale: never let it raise the estimate.
   */
  private record(outcome: RateLimitOutcome, raced: boolean): void {
    if (outcome?.status === 429) this.rateLimited += 1;
    const header = outcome ? readRateLimitHeaders(outcome.headers) : null;
    const spent = this.tokens === null ? null : (this.refilledTokens() ?? 0) - 1;
    if (header) {
      this.tokens = raced && spent !== null ? Math.min(header.remaining, spent) : header.remaining;
      this.limit = header.limit;
      this.resetAt = header.resetAt;
    } else if (spent !== null) {
      // Without headers the server may still have counted the request; assume it did.
      this.tokens = spent;
    }
    this.observedAt = this.now();
  }
}

function readRateLimitHeaders(
  headers: Headers,
): { limit: number; remaining: number; resetAt: number | null } | null {
  const limit = Number(headers.get("ratelimit-limit") ?? Number.NaN);
  const remaining = Number(headers.get("ratelimit-remaining") ?? Number.NaN);
  const resetAt = Number(headers.get("ratelimit-reset") ?? Number.NaN);
  if (!Number.isFinite(limit) || !Number.isFinite(remaining)) return null;
  return { limit, remaining, resetAt: Number.isFinite(resetAt) ? resetAt : null };
}
