/**
 * Scoped API keys. A key's scope is `*` (every user) or a set of GitHub
 * usernames (case-insensitive, as GitHub's are). Keys come from two places:
 *  - `API_KEYS` = `KEY:SCOPE,...` (SCOPE `*` or `alice|bob`), compared in constant time;
 *  - run-time keys in Redis (`npm run keys -- create <scope>`), stored only as
 *    the SHA-256 of the key: a Redis dump never yields a usable key.
 * Used by the gateway (Deno) and the keys script (Bun).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Redis } from "ioredis";
import { isUsername } from "../schemas/names.ts";

/** `*`, or the lower-cased usernames the key may act for. */
export type KeyScope = "*" | ReadonlySet<string>;

export interface EnvKey {
  key: string;
  scope: KeyScope;
}

/**
 * What a key may be made of: an RFC 6750 bearer token (`=` only as trailing
 * padding, as Hono's bearerAuth reads it), no separators of the API_KEYS
 * syntax, no whitespace, 8-200 characters.
 */
const KEY_RE = /^(?=.{8,200}$)[A-Za-z0-9._~+/-]+=*$/;

/** Parses a scope: `*` or usernames joined by `|`. Throws with a message that quotes nothing secret. */
export function parseScope(s: string): KeyScope {
  const t = s.trim();
  if (t === "*") return "*";
  const names = t.split("|").map((n) => n.trim());
  if (names.length === 0 || names.some((n) => !isUsername(n))) {
    throw new Error("a scope is * or GitHub usernames joined by |");
  }
  return new Set(names.map((n) => n.toLowerCase()));
}

export function formatScope(scope: KeyScope): string {
  return scope === "*" ? "*" : [...scope].join("|");
}

/**
 * `KEY:SCOPE,...` → keys. Errors say which entry (by position) and why, never
 * the entry itself: it holds a key.
 */
export function parseApiKeys(value: string | undefined): EnvKey[] {
  const out: EnvKey[] = [];
  const entries = (value ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const at = entry.lastIndexOf(":");
    if (at <= 0) throw new Error(`entry ${i + 1} is not KEY:SCOPE (SCOPE is * or user1|user2)`);
    const key = entry.slice(0, at).trim();
    if (!KEY_RE.test(key)) {
      throw new Error(`entry ${i + 1}: a key is 8-200 characters of letters, digits and ._~+/- with = only at the end`);
    }
    let scope: KeyScope;
    try {
      scope = parseScope(entry.slice(at + 1));
    } catch (err) {
      throw new Error(`entry ${i + 1}: ${(err as Error).message}`);
    }
    out.push({ key, scope });
  });
  return out;
}

export function scopeCovers(scope: KeyScope, username: string): boolean {
  return scope === "*" || scope.has(username.toLowerCase());
}

/** SHA-256 hex of a key: what Redis stores, and the client id rate limits count by. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Constant-time string comparison (lengths compared by their hashes, so length does not leak either). */
export function safeEqual(a: string, b: string): boolean {
  const x = createHash("sha256").update(a, "utf8").digest();
  const y = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(x, y);
}

export interface StoredKey {
  /** First 12 hex digits of the key's hash: names the key in lists and revocation without revealing it. */
  id: string;
  scope: string;
  created_at: string;
}

/** Run-time keys: a Redis hash `{prefix}:apikeys`, field = SHA-256 of the key, value = StoredKey JSON. */
export class KeyRegistry {
  readonly key: string;
  constructor(private readonly redis: Redis, prefix = "fs") {
    this.key = `${prefix}:apikeys`;
  }

  /** Creates a key for `scope`; the key itself is returned once and stored nowhere. */
  async create(scope: string): Promise<{ key: string; id: string; scope: string }> {
    const parsed = parseScope(scope);
    const key = "fsk_" + randomBytes(24).toString("base64url");
    const hash = hashKey(key);
    const rec: StoredKey = { id: hash.slice(0, 12), scope: formatScope(parsed), created_at: new Date().toISOString() };
    await this.redis.hset(this.key, hash, JSON.stringify(rec));
    return { key, id: rec.id, scope: rec.scope };
  }

  /** Revokes by the key itself or by its id; true when one was removed. */
  async revoke(keyOrId: string): Promise<boolean> {
    if (/^[0-9a-f]{12}$/.test(keyOrId)) {
      const all = await this.redis.hgetall(this.key);
      for (const [hash, json] of Object.entries(all)) {
        if (hash.startsWith(keyOrId) || safeParse(json)?.id === keyOrId) {
          return (await this.redis.hdel(this.key, hash)) === 1;
        }
      }
    }
    return (await this.redis.hdel(this.key, hashKey(keyOrId))) === 1;
  }

  async list(): Promise<StoredKey[]> {
    const all = await this.redis.hgetall(this.key);
    return Object.values(all).map(safeParse).filter((k): k is StoredKey => k !== null);
  }

  /** The scope of a run-time key, or null when it is not one. */
  async lookup(key: string): Promise<KeyScope | null> {
    const json = await this.redis.hget(this.key, hashKey(key));
    const rec = safeParse(json);
    if (!rec) return null;
    try {
      return parseScope(rec.scope);
    } catch {
      return null;
    }
  }

  /** Whether any run-time key exists. */
  async any(): Promise<boolean> {
    return (await this.redis.hlen(this.key)) > 0;
  }
}

function safeParse(json: string | null | undefined): StoredKey | null {
  if (!json) return null;
  try {
    const v = JSON.parse(json);
    return v && typeof v.id === "string" && typeof v.scope === "string" ? v as StoredKey : null;
  } catch {
    return null;
  }
}
