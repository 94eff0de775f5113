/**
 * Who may call what. With no API key configured (none in API_KEYS, none
 * created at run time) every route is open, as a local setup expects. Once a
 * key exists:
 *  - a refresh needs `Authorization: Bearer <key>` whose scope covers the
 *    user: 401 without a key or with an unknown one, 403 out of scope;
 *  - reads (status, events, bundle, repo, /api/ai) stay public unless
 *    READ_ACCESS=key, which puts them under the same rule.
 * The client a request counts against (rate limits, stream caps) is its key
 * (as a hash prefix: keys never reach Redis in clear) or its IP.
 */
import type { Context } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import type { Redis } from "ioredis";
import {
  type EnvKey,
  hashKey,
  KeyRegistry,
  type KeyScope,
  parseApiKeys,
  scopeCovers,
} from "../shared/auth/api-keys.ts";
import type { Config } from "../shared/config.ts";
import { clientIp, HttpError, safeClientId } from "./http.ts";

export type Access = "write" | "read";

export interface Client {
  /** Rate-limit identity, safe inside a Redis key: `key:<hash prefix>` or `ip:<address>`. */
  id: string;
  /** The key's scope when the request carried a valid key. */
  scope: KeyScope | null;
}

/** The bearer token of the request, or null. */
export function bearerToken(c: Context): string | null {
  const h = c.req.header("authorization");
  if (!h) return null;
  const m = h.match(/^Bearer[ \t]+(\S+)\s*$/i);
  return m ? m[1] : null;
}

const UNAUTHORIZED = { "www-authenticate": 'Bearer realm="foliosync"' };

export class Authorizer {
  private readonly envKeys: EnvKey[];
  readonly registry: KeyRegistry;
  private readonly readNeedsKey: boolean;
  /** Whether run-time keys exist, re-read at most every `anyTtlMs`. */
  private anyCache: { value: boolean; at: number } | null = null;
  private readonly anyTtlMs = 1000;
  /** key → hash, so a key is hashed once per process. */
  private readonly hashes = new Map<string, string>();

  constructor(config: Config, redis: Redis, private readonly trustedProxyHops: number) {
    this.envKeys = parseApiKeys(config.API_KEYS);
    this.registry = new KeyRegistry(redis, config.QUEUE_PREFIX);
    this.readNeedsKey = config.READ_ACCESS === "key";
  }

  private async keysConfigured(): Promise<boolean> {
    if (this.envKeys.length > 0) return true;
    const now = Date.now();
    if (!this.anyCache || now - this.anyCache.at > this.anyTtlMs) {
      this.anyCache = { value: await this.registry.any(), at: now };
    }
    return this.anyCache.value;
  }

  private hashOf(token: string): string {
    let h = this.hashes.get(token);
    if (!h) {
      h = hashKey(token);
      if (this.hashes.size > 10_000) this.hashes.clear();
      this.hashes.set(token, h);
    }
    return h;
  }

  /** The scope of a token: env keys compared in constant time (every one of them), then run-time keys. */
  private async scopeOf(token: string): Promise<KeyScope | null> {
    let found: KeyScope | null = null;
    for (const k of this.envKeys) {
      if (await timingSafeEqual(token, k.key)) found ??= k.scope;
    }
    return found ?? await this.registry.lookup(token);
  }

  private ipClient(c: Context): Client {
    return { id: "ip:" + safeClientId(clientIp(c, this.trustedProxyHops)), scope: null };
  }

  /**
   * The caller, checked for `access` to `username` (null: no particular user).
   * Throws HttpError 401/403 when the rule above refuses it.
   */
  async require(c: Context, access: Access, username: string | null): Promise<Client> {
    if (access === "read" && !this.readNeedsKey) return this.ipClient(c);
    if (!(await this.keysConfigured())) return this.ipClient(c);
    const token = bearerToken(c);
    if (!token) {
      throw new HttpError(401, "unauthorized", "missing API key: send Authorization: Bearer <key>", UNAUTHORIZED);
    }
    const scope = await this.scopeOf(token);
    if (!scope) throw new HttpError(401, "unauthorized", "invalid API key", UNAUTHORIZED);
    if (username !== null && !scopeCovers(scope, username)) {
      throw new HttpError(403, "forbidden", `this API key may not act for ${username}`);
    }
    return { id: "key:" + this.hashOf(token).slice(0, 24), scope };
  }
}
