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
import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
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
import { clientIp, errorResponse, type GatewayBindings, HttpError, safeClientId } from "./http.ts";

export type Access = "write" | "read";

export interface Client {
  /** Rate-limit identity, safe inside a Redis key: `key:<hash prefix>` or `ip:<address>`. */
  id: string;
  /** The key's scope when the request carried a valid key. */
  scope: KeyScope | null;
}

/** The app's Hono env: the caller, set by the route's access gate (`Authorizer.gate`), for its handler. */
export type AuthEnv = { Bindings: GatewayBindings; Variables: { client: Client } };

const unauthorized = (message: string) => () => errorResponse(new HttpError(401, "unauthorized", message));

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
   * Hono's bearerAuth (header parsing, the 401 answers and their
   * WWW-Authenticate challenges) with our key lookup as its verifier; every
   * 401 is our error shape — a malformed header too (bearerAuth's own answer
   * to that is a 400), as the contract has it.
   */
  private readonly bearer = bearerAuth<AuthEnv>({
    realm: "foliosync",
    verifyToken: async (token, c) => {
      const scope = await this.scopeOf(token);
      if (!scope) return false;
      c.set("client", { id: "key:" + this.hashOf(token).slice(0, 24), scope });
      return true;
    },
    noAuthenticationHeader: { message: unauthorized("missing API key: send Authorization: Bearer <key>") },
    invalidAuthenticationHeader: { message: unauthorized("malformed Authorization header: send Bearer <key>") },
    invalidToken: { message: unauthorized("invalid API key") },
  });

  /**
   * The access gate of a route (app.ts puts it before the body is read): sets
   * the caller (`c.get("client")`) or answers 401. What bearerAuth does not
   * do, and this does: no key is asked for while none is configured, nor for
   * reads unless READ_ACCESS=key; a caller without a key counts by its IP.
   */
  gate(access: Access): MiddlewareHandler<AuthEnv> {
    return async (c, next) => {
      if ((access === "read" && !this.readNeedsKey) || !(await this.keysConfigured())) {
        c.set("client", this.ipClient(c));
        return next();
      }
      return this.bearer(c, next);
    };
  }

  /**
   * The caller its route's gate let in, checked to act for `username`: 403
   * when its key's scope does not cover the user (the user may be known only
   * once the body is read, so this is the handler's call, not the gate's).
   */
  client(c: Context<AuthEnv>, username: string): Client {
    const client = c.get("client");
    if (client.scope && !scopeCovers(client.scope, username)) {
      throw new HttpError(403, "forbidden", `this API key may not act for ${username}`);
    }
    return client;
  }
}
