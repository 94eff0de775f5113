import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export type QuotaResource = "core" | "graphql";

/** How a token is named in logs, metrics and Redis: a short hash, never the token. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 8);
}

interface Quota {
  /** Requests (REST) or points (GraphQL) left; undefined until GitHub said. */
  remaining?: number;
  /** When the quota is back (epoch ms). */
  resetAt?: number;
}

export interface PooledToken {
  token: string;
  fp: string;
  quota: Record<QuotaResource, Quota>;
  /** Why the token left the pool (authentication failed). */
  dead?: string;
}

/** One token's quota as the metrics/CLI read it from Redis. */
export interface TokenQuota {
  token: string;
  core_remaining?: number;
  core_reset?: number;
  graphql_remaining?: number;
  graphql_reset?: number;
  dead?: string;
}

/** How often a process re-reads the other processes' view of the quotas. */
const SYNC_EVERY_MS = 500;

/**
 * The GitHub tokens of a deployment (GITHUB_TOKENS; GITHUB_TOKEN is a pool of
 * one) and each one's REST and GraphQL quota, as GitHub last reported it.
 * The quotas live in one Redis hash, `<prefix>:github:quota` (fields
 * `<fp>:<resource>:remaining|reset`, `<fp>:dead`), so every worker process
 * picks from the same view: each request goes to the live token with the most
 * remaining; a token that fails authentication leaves the pool for every process.
 */
export class TokenPool {
  readonly tokens: PooledToken[];
  private lastSync = 0;

  constructor(tokens: string[], private readonly redis?: Redis, readonly key = "fs:github:quota") {
    const seen = new Set<string>();
    this.tokens = [];
    for (const t of tokens.map((s) => s.trim()).filter(Boolean)) {
      if (seen.has(t)) continue;
      seen.add(t);
      this.tokens.push({ token: t, fp: tokenFingerprint(t), quota: { core: {}, graphql: {} } });
    }
  }

  get size(): number {
    return this.tokens.length;
  }

  alive(): PooledToken[] {
    return this.tokens.filter((t) => !t.dead);
  }

  /** Reads what other processes learned (at most every SYNC_EVERY_MS). */
  async sync(force = false): Promise<void> {
    if (!this.redis || (!force && Date.now() - this.lastSync < SYNC_EVERY_MS)) return;
    this.lastSync = Date.now();
    const h = await this.redis.hgetall(this.key);
    for (const t of this.tokens) {
      if (h[`${t.fp}:dead`]) t.dead = h[`${t.fp}:dead`];
      for (const r of ["core", "graphql"] as const) {
        const rem = h[`${t.fp}:${r}:remaining`], reset = h[`${t.fp}:${r}:reset`];
        if (rem === undefined || reset === undefined) continue;
        const q = t.quota[r];
        // Another process's answer is newer when it names a later reset or fewer remaining in the same window.
        const resetAt = Number(reset), remaining = Number(rem);
        if (
          q.resetAt === undefined || resetAt > q.resetAt ||
          (resetAt === q.resetAt && remaining < (q.remaining ?? Infinity))
        ) {
          q.remaining = remaining;
          q.resetAt = resetAt;
        }
      }
    }
  }

  /**
   * The live token with the most `resource` quota left (a quota whose reset
   * has passed counts as full; an unknown one as full), or how long until the
   * earliest reset when every one is spent. null when no token is left.
   */
  pick(resource: QuotaResource): { token: PooledToken } | { waitMs: number } | null {
    const now = Date.now();
    const alive = this.alive();
    if (alive.length === 0) return null;
    let best: PooledToken | null = null;
    let bestLeft = -1;
    let earliest = Infinity;
    for (const t of alive) {
      const q = t.quota[resource];
      const fresh = q.resetAt === undefined || q.resetAt <= now || q.remaining === undefined;
      const left = fresh ? Number.MAX_SAFE_INTEGER : q.remaining!;
      if (left > 0 && left > bestLeft) {
        best = t;
        bestLeft = left;
      }
      if (!fresh && q.remaining! <= 0) earliest = Math.min(earliest, q.resetAt!);
    }
    if (best) {
      const q = best.quota[resource];
      if (q.remaining !== undefined && q.resetAt !== undefined && q.resetAt > now) q.remaining--; // spread concurrent picks
      return { token: best };
    }
    return { waitMs: Math.max(0, earliest - now) };
  }

  /** Records what GitHub said about a token's quota (here and in Redis). */
  async report(t: PooledToken, resource: QuotaResource, remaining: number, resetAt: number): Promise<void> {
    if (!Number.isFinite(remaining) || !Number.isFinite(resetAt)) return;
    t.quota[resource] = { remaining, resetAt };
    await this.redis?.hset(
      this.key,
      `${t.fp}:${resource}:remaining`,
      String(remaining),
      `${t.fp}:${resource}:reset`,
      String(resetAt),
    );
  }

  /** Takes a token out of the pool for every process; `reason` never holds the token. */
  async remove(t: PooledToken, reason: string): Promise<void> {
    t.dead = reason;
    await this.redis?.hset(this.key, `${t.fp}:dead`, reason);
  }
}

/** Every token's quota by fingerprint, as stored in Redis (for metrics and the CLI). */
export async function readTokenQuotas(redis: Redis, prefix = "fs"): Promise<TokenQuota[]> {
  const h = await redis.hgetall(`${prefix}:github:quota`);
  const byFp = new Map<string, TokenQuota>();
  for (const [field, value] of Object.entries(h)) {
    const [fp, a, b] = field.split(":");
    const q = byFp.get(fp) ?? { token: fp };
    byFp.set(fp, q);
    if (a === "dead") q.dead = value;
    else if ((a === "core" || a === "graphql") && (b === "remaining" || b === "reset")) {
      q[`${a}_${b}`] = Number(value);
    }
  }
  return [...byFp.values()].sort((x, y) => x.token.localeCompare(y.token));
}
