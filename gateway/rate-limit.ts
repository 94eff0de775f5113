/**
 * A fixed-window request counter per client in Redis (every gateway instance
 * counts into the same window): INCR, then PEXPIRE NX and PTTL in one
 * MULTI, so a window always expires. Over the limit → HttpError 429 with
 * Retry-After (seconds until the window ends).
 */
import type { Redis } from "ioredis";
import { redisKeys } from "../shared/keys.ts";
import { HttpError } from "./http.ts";

export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly name: string,
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Counts one request of `client`; throws 429 when it is over the limit. */
  async hit(client: string, what: string): Promise<void> {
    const window = Math.floor(Date.now() / this.windowMs);
    const key = redisKeys(this.prefix).rateLimit(this.name, client, window);
    const res = await this.redis.multi().incr(key).pexpire(key, this.windowMs, "NX").pttl(key).exec();
    const n = Number(res?.[0]?.[1] ?? 0);
    if (n > this.limit) {
      const ttl = Number(res?.[2]?.[1] ?? this.windowMs);
      const retryAfterS = Math.max(1, Math.ceil((ttl > 0 ? ttl : this.windowMs) / 1000));
      throw new HttpError(
        429,
        "rate_limited",
        `more than ${this.limit} ${what} requests per minute; retry later`,
        { "retry-after": String(retryAfterS) },
      );
    }
  }
}
