/** Hetzner's per-project request budget: a token bucket shared by every request the simulator serves. */

export interface RateLimitSettings {
  /** Requests the bucket holds when full (Hetzner: 3600). */
  capacity: number;
  /** Tokens added back per real second (Hetzner: 1; a compressed-time run scales it alike). */
  refillPerSecond: number;
  /** Tokens in the bucket at the start (default: full); 0 starts a budget spent, as after a busy hour. */
  initialTokens?: number;
}

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private settings: RateLimitSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = startingTokens(settings);
    this.refilledAt = now();
  }

  /** Replaces the settings and refills the bucket (to `initialTokens` when given), so tests start from a known budget. */
  reset(settings: RateLimitSettings): void {
    this.settings = settings;
    this.tokens = startingTokens(settings);
    this.refilledAt = this.now();
  }

  /** Spends one token; false when the bucket is empty (the request gets 429). */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** `RateLimit-*` headers; Reset is the unix second at which the bucket is full again. */
  headers(): Record<string, string> {
    this.refill();
    const missing = this.settings.capacity - this.tokens;
    const secondsToFull = this.settings.refillPerSecond > 0 ? missing / this.settings.refillPerSecond : 0;
    return {
      "RateLimit-Limit": String(this.settings.capacity),
      "RateLimit-Remaining": String(Math.floor(this.tokens)),
      "RateLimit-Reset": String(Math.ceil(this.now() / 1000 + secondsToFull)),
    };
  }

  private refill(): void {
    const now = this.now();
    const gained = ((now - this.refilledAt) / 1000) * this.settings.refillPerSecond;
    this.tokens = Math.min(this.settings.capacity, this.tokens + gained);
    this.refilledAt = now;
  }
}

function startingTokens(settings: RateLimitSettings): number {
  return Math.min(settings.capacity, settings.initialTokens ?? settings.capacity);
}
