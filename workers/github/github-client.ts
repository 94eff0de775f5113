import { Octokit } from "@octokit/rest";
import type { Redis } from "ioredis";
import {
  GitHubNotFoundError,
  GitHubUnauthorizedError,
  GitHubUnavailableError,
  NonRetriableError,
  RequestTimeoutError,
  RetryAfterError,
} from "../../shared/errors.ts";
import type { GithubRepo } from "../../shared/schemas/repo.ts";
import { Semaphore } from "./semaphore.ts";
import { type PooledToken, type QuotaResource, TokenPool } from "./token-pool.ts";
import { backoffDelay } from "../../shared/retry.ts";

export interface GithubClientOptions {
  baseUrl: string;
  /** One token (a pool of one). */
  token?: string;
  /** A pool of tokens: each request goes to the live one with the most quota left. */
  tokens?: string[];
  /** Redis hash of every token's quota, shared by every worker process. */
  quotaKey?: string;
  /** Most requests in flight (GitHub documents 100 concurrent requests). */
  maxInFlight?: number;
  /** Shared pause key so every worker process waits out a rate limit together. */
  redis?: Redis;
  pauseKey?: string;
  /** Longest a request waits for a rate-limit reset before giving up with RetryAfterError. */
  maxRateWaitMs?: number;
  /** Quick in-request retries of 5xx/network faults before the job's own backoff takes over. */
  transientRetries?: number;
  /**
   * Least wait after a secondary rate limit that names no `retry-after`
   * (GitHub asks for at least a minute); doubled for each further one in a row.
   */
  secondaryWaitMs?: number;
  /**
   * Longest one request (REST or GraphQL, answer body included) may take;
   * then it is abandoned and fails with RequestTimeoutError (transient).
   */
  requestTimeoutMs?: number;
  log?: (msg: string) => void;
  /** Each answer (status 0: none came) with its x-ratelimit-remaining header: for metrics. */
  onResponse?: (route: string, status: number, rateLimitRemaining: string | undefined) => void;
}

/** One entry of a GraphQL answer's `errors`, in GitHub's shape (every field untrusted). */
export interface GraphqlError {
  type?: string;
  message?: string;
  path?: (string | number)[];
}

/** A GraphQL answer: its data (partial when some of it failed) and GitHub's errors. */
export interface GraphqlAnswer<T> {
  data: T | null;
  errors: GraphqlError[];
}

/** A per-refresh allowance of GitHub requests; `charge` throws once it is spent. */
export interface RequestBudget {
  charge(requests: number): Promise<void>;
}

export interface Conditional<T> {
  /** false when GitHub answered 304 (the caller's cached value still holds). */
  modified: boolean;
  etag?: string;
  data?: T;
  /** For listings: the Link header. */
  link?: string;
}

export interface RepoFile {
  /** Exact bytes decoded from GitHub's base64 (cut to the size limit when `truncated`). */
  text: string;
  sha: string;
  /** The file's name in the repository (the README's name GitHub picked). */
  name?: string;
  /** The file was larger than the size limit (or than GitHub serves) and `text` is its beginning. */
  truncated: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Status of an Octokit RequestError (or anything shaped like one). */
function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === "number" ? s : undefined;
}
/** Did the request get an HTTP answer at all (Octokit errors carry `response` only then)? */
function hasResponse(err: unknown): boolean {
  return Boolean((err as { response?: unknown })?.response);
}
/** The innermost cause of a network fault, e.g. "fetch failed: connect ECONNREFUSED 127.0.0.1:9". */
function networkReason(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const m = (e as Error).message ?? String(e);
    const code = (e as { code?: unknown }).code;
    if (m && !parts.includes(m)) parts.push(typeof code === "string" && !m.includes(code) ? `${m} (${code})` : m);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(": ").slice(0, 300) || "no answer";
}
function headersOf(err: unknown): Record<string, string> {
  return ((err as { response?: { headers?: Record<string, string> } })?.response?.headers) ?? {};
}
/** The `errors` (and partial `data`) of a GraphQL answer that Octokit threw as a GraphqlResponseError. */
function graphqlErrorsOf(err: unknown): { errors: GraphqlError[]; data: unknown } | null {
  const e = err as { errors?: unknown; data?: unknown } | null;
  if (!e || !Array.isArray(e.errors) || statusOf(err) !== undefined) return null;
  const errors = e.errors.slice(0, 100).map((x) => {
    const o = (x ?? {}) as Record<string, unknown>;
    return {
      type: typeof o.type === "string" ? o.type.slice(0, 100) : undefined,
      message: typeof o.message === "string" ? o.message.slice(0, 500) : undefined,
      path: Array.isArray(o.path) ? o.path.filter((p) => typeof p === "string" || typeof p === "number") : undefined,
    } as GraphqlError;
  });
  return { errors, data: e.data ?? null };
}
/** GitHub's error message from an Octokit error's body (bounded: it is untrusted). */
function bodyMessageOf(err: unknown): string {
  const data = (err as { response?: { data?: unknown } })?.response?.data;
  const m = (data as { message?: unknown } | undefined)?.message;
  return typeof m === "string" ? m.slice(0, 500) : typeof data === "string" ? data.slice(0, 500) : "";
}

/** Repositories per page of a listing (GitHub's maximum). */
export const PER_PAGE = 100;

export interface ListedPage {
  page: number;
  etag?: string;
  body: GithubRepo[];
  modified: boolean;
}

export interface Listing {
  /** Each repository once (first occurrence by lower-cased name), in listing order. */
  repos: GithubRepo[];
  pages: ListedPage[];
  /** Listed past the last repository (not cut short by `maxRepos`). */
  complete: boolean;
}

/**
 * The one way workers talk to GitHub: Octokit (REST with conditional
 * requests, and GraphQL), each request sent with the pooled token that has
 * the most quota left (anonymous REST without tokens), at most `maxInFlight`
 * concurrent requests, rate limits waited out together (no burst while
 * waiting), and GitHub's answers mapped onto typed errors: 404/422 →
 * NonRetriableError (callers that expect absence ask for null), 401 → the
 * token leaves the pool, 403/429 with the quota spent or `retry-after` or a
 * secondary limit → wait, then RetryAfterError when the wait would be too
 * long; 5xx/network → retried, then thrown; no complete answer within
 * `requestTimeoutMs` → abandoned, retried, then RequestTimeoutError.
 */
export class GithubClient {
  /** The anonymous client, or the first token's. */
  readonly octokit: Octokit;
  readonly pool: TokenPool;
  private readonly octokits = new Map<string, Octokit>();
  private readonly gate: Semaphore;
  private pausedUntil = 0;
  /** Secondary rate limits in a row (reset by any answer that is not one). */
  private secondaryStreak = 0;
  private readonly opts:
    & Required<Omit<GithubClientOptions, "token" | "tokens" | "redis" | "log" | "onResponse">>
    & GithubClientOptions;
  /** Every request sent (REST and GraphQL). */
  requests = 0;
  graphqlRequests = 0;
  /** GraphQL points spent, as GitHub reported each query's cost. */
  graphqlPoints = 0;

  constructor(opts: GithubClientOptions) {
    this.opts = {
      maxInFlight: 100,
      pauseKey: "fs:github:paused-until",
      maxRateWaitMs: 60 * 60_000,
      transientRetries: 2,
      secondaryWaitMs: 60_000,
      requestTimeoutMs: 30_000,
      quotaKey: "fs:github:quota",
      ...opts,
    };
    const make = (auth?: string) =>
      new Octokit({
        baseUrl: opts.baseUrl.replace(/\/+$/, ""),
        ...(auth ? { auth } : {}),
        userAgent: "foliosync",
        request: { retries: 0 },
        log: { debug() {}, info() {}, warn() {}, error() {} },
      });
    this.pool = new TokenPool(
      [...(opts.tokens ?? []), ...(opts.token ? [opts.token] : [])],
      opts.redis,
      this.opts.quotaKey,
    );
    for (const t of this.pool.tokens) this.octokits.set(t.fp, make(t.token));
    this.octokit = this.pool.size ? this.octokits.get(this.pool.tokens[0].fp)! : make();
    this.gate = new Semaphore(this.opts.maxInFlight);
  }

  /** GraphQL needs a token: is there one left? */
  get canGraphql(): boolean {
    return this.pool.alive().length > 0;
  }

  /**
   * The token for the next request: the live one with the most `resource`
   * quota left; when every one is spent, waits for the earliest reset (or
   * RetryAfterError past maxRateWaitMs). null: no tokens configured (anonymous REST).
   */
  private async acquireToken(resource: QuotaResource): Promise<PooledToken | null> {
    if (this.pool.size === 0) {
      if (resource === "graphql") throw new NonRetriableError("GitHub's GraphQL API needs a token");
      return null;
    }
    for (;;) {
      await this.pool.sync();
      const pick = this.pool.pick(resource);
      if (pick === null) {
        throw new GitHubUnauthorizedError("every GitHub token failed authentication; none is left in the pool");
      }
      if ("token" in pick) return pick.token;
      const wait = pick.waitMs + 250;
      if (wait > this.opts.maxRateWaitMs) {
        throw new RetryAfterError(
          `GitHub ${resource} quota of every token spent; the earliest resets in ${Math.ceil(wait / 1000)} s`,
          wait,
        );
      }
      this.opts.log?.(
        `github: every token's ${resource} quota is spent; waiting ${Math.ceil(wait / 1000)} s for the earliest reset`,
      );
      await sleep(Math.min(wait, 5_000) + Math.random() * 100);
      await this.pool.sync(true);
    }
  }

  private client(t: PooledToken | null): Octokit {
    return t ? this.octokits.get(t.fp)! : this.octokit;
  }

  /** Records a REST answer's quota headers against the token that sent it. */
  private async noteHeaders(t: PooledToken | null, headers: Record<string, string | number | undefined>) {
    if (!t) return;
    const remaining = Number(headers["x-ratelimit-remaining"]), reset = Number(headers["x-ratelimit-reset"]);
    if (headers["x-ratelimit-remaining"] === undefined || !Number.isFinite(remaining) || !Number.isFinite(reset)) {
      return;
    }
    const resource = headers["x-ratelimit-resource"] === "graphql" ? "graphql" : "core";
    await this.pool.report(t, resource, remaining, reset * 1000);
  }

  /** A token GitHub refused (401) leaves the pool, for every process; the log names its fingerprint only. */
  private async dropToken(t: PooledToken, message: string) {
    const reason = `authentication failed (401${message ? `: ${message.slice(0, 100)}` : ""})`;
    await this.pool.remove(t, reason);
    this.opts.log?.(
      `github: token ${t.fp} ${reason}; removed from the pool (${this.pool.alive().length} of ${this.pool.size} left)`,
    );
  }

  /** Waits while a rate limit is in force (this process's or any worker's, via Redis). */
  private async waitForQuota(): Promise<void> {
    for (;;) {
      let until = this.pausedUntil;
      if (this.opts.redis) {
        const shared = Number(await this.opts.redis.get(this.opts.pauseKey)) || 0;
        until = Math.max(until, shared);
      }
      const wait = until - Date.now();
      if (wait <= 0) return;
      if (wait > this.opts.maxRateWaitMs) {
        throw new RetryAfterError(`GitHub rate limit: quota resets in ${Math.ceil(wait / 1000)} s`, wait);
      }
      this.opts.log?.(`github rate limit: waiting ${Math.ceil(wait / 1000)} s for the reset`);
      await sleep(Math.min(wait, 5_000) + Math.random() * 100);
    }
  }

  /**
   * Everything a request waits for before it is sent, REST and GraphQL
   * alike: one request charged to the refresh's budget, no rate-limit pause
   * in force, a token with quota (null: anonymous REST), and a slot of the
   * in-flight gate (the caller releases it).
   */
  private async sendSlot(resource: QuotaResource, budget?: RequestBudget): Promise<PooledToken | null> {
    // One round trip, not three: the shared pause and the other processes' view of the quotas are read while
    // the request is charged (a request that then fails before it is sent has still been charged).
    await Promise.all([this.waitForQuota(), this.pool.sync(), budget?.charge(1)]);
    const tok = await this.acquireToken(resource);
    await this.acquireGate();
    return tok;
  }

  /**
   * A slot of the in-flight gate, taken only while no rate-limit pause known
   * to this process is in force: a request that queued for the gate before
   * the quota ran out does not go out after it.
   */
  private async acquireGate(): Promise<void> {
    for (;;) {
      await this.gate.acquire();
      if (this.pausedUntil <= Date.now()) return;
      this.gate.release();
      await this.waitForQuota();
    }
  }

  /**
   * An anonymous answer saying the quota is spent pauses this process at
   * once, before the answer's gate slot goes to the next request (pause()
   * then shares it through Redis). Pooled tokens are not paused: the pool
   * moves to another token.
   */
  private holdIfSpent(tok: PooledToken | null, status: number | undefined, headers: Record<string, string>) {
    if (tok || (status !== 403 && status !== 429) || headers["x-ratelimit-remaining"] !== "0") return;
    if (headers["retry-after"]) return;
    const reset = Number(headers["x-ratelimit-reset"]) * 1000;
    if (Number.isFinite(reset) && reset > Date.now()) this.pausedUntil = Math.max(this.pausedUntil, reset + 250);
  }

  private async pause(until: number) {
    this.pausedUntil = Math.max(this.pausedUntil, until);
    if (this.opts.redis) {
      const ttl = Math.max(1, until - Date.now());
      // Only ever extend the shared pause.
      const cur = Number(await this.opts.redis.get(this.opts.pauseKey)) || 0;
      if (until > cur) await this.opts.redis.set(this.opts.pauseKey, String(until), "PX", ttl);
    }
  }

  /**
   * Is this a rate-limit answer? Returns when to try again (epoch ms), else null.
   * GitHub's rules: `retry-after` names the wait; `x-ratelimit-remaining: 0`
   * means wait for `x-ratelimit-reset`; any other rate limit (a secondary
   * limit: 429, or a 403 whose message says so) means at least a minute, then
   * exponentially longer while they keep coming.
   */
  private rateLimitedUntil(
    status: number | undefined,
    headers: Record<string, string>,
    message: string,
  ): number | null {
    if (status !== 403 && status !== 429) return null;
    const retryAfter = Number(headers["retry-after"]);
    if (headers["retry-after"] !== undefined && headers["retry-after"] !== "" && Number.isFinite(retryAfter)) {
      this.secondaryStreak++;
      return Date.now() + Math.max(1, retryAfter) * 1000;
    }
    if (headers["x-ratelimit-remaining"] === "0") {
      const reset = Number(headers["x-ratelimit-reset"]) * 1000;
      return Number.isFinite(reset) && reset > Date.now() ? reset + 250 : Date.now() + 1000;
    }
    if (status === 429 || /rate limit|abuse/i.test(message)) {
      const wait = this.opts.secondaryWaitMs * 2 ** Math.min(this.secondaryStreak, 6);
      this.secondaryStreak++;
      this.opts.log?.(`github secondary rate limit: waiting ${(wait / 1000).toFixed(1)} s before trying again`);
      return Date.now() + wait;
    }
    return null;
  }

  /**
   * Runs one request under the request deadline: the request gets an abort
   * signal, and the deadline wins the race even if the transport ignored the
   * signal. An answer whose body was still arriving at the deadline is not an
   * answer (Octokit reads a cut JSON body as ""), so it fails too. Either way
   * the error is RequestTimeoutError, whatever shape the abort took below.
   */
  private async withDeadline<R>(what: string, send: (signal: AbortSignal) => Promise<R>): Promise<R> {
    const ms = this.opts.requestTimeoutMs;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new RequestTimeoutError(`GitHub did not answer within ${ms} ms for ${what}`, ms);
        ctl.abort(err);
        reject(err);
      }, ms);
    });
    try {
      const res = await Promise.race([send(ctl.signal), deadline]);
      if (ctl.signal.aborted) throw ctl.signal.reason;
      return res;
    } catch (err) {
      if (ctl.signal.aborted) throw ctl.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      deadline.catch(() => {}); // settled by the timer only when it fired; never unhandled
    }
  }

  /**
   * The faults REST and GraphQL answer alike. A refused token (401) leaves
   * the pool; a token whose quota is spent hands over to the next pick (its
   * quota was noted); a rate limit pauses every request until its time.
   * true: the caller sends the request again (waitForQuota and acquireToken
   * do the waiting).
   */
  private async tryAgainAfter(
    tok: PooledToken | null,
    status: number | undefined,
    headers: Record<string, string>,
    error: unknown,
  ): Promise<boolean> {
    if (tok && status === 401) {
      await this.dropToken(tok, bodyMessageOf(error));
      return true; // the next live token, if any
    }
    if (
      tok && (status === 403 || status === 429) && headers["x-ratelimit-remaining"] === "0" && !headers["retry-after"]
    ) {
      return true; // this token is spent: the next pick takes another one or waits for a reset
    }
    const until = this.rateLimitedUntil(status, headers, bodyMessageOf(error));
    if (until === null) return false;
    await this.pause(until);
    return true;
  }

  /**
   * What a request that failed its quick retries throws: a timeout as itself
   * (RequestTimeoutError), an answer as `GitHub <status>`, and a request
   * that never got one (Octokit reports DNS, refused, reset as status 500
   * without a response) as unreachable, with the reason, rather than as a 500.
   */
  private failure(error: unknown, status: number | undefined, label: string, what: string): Error {
    if (error instanceof RequestTimeoutError) return error;
    if (status !== undefined && hasResponse(error)) {
      const msg = `GitHub ${label}${status} for ${what}`;
      return status >= 500 ? new GitHubUnavailableError(msg, { cause: error }) : new Error(msg, { cause: error });
    }
    return new GitHubUnavailableError(`GitHub unreachable for ${what}: ${networkReason(error)}`, { cause: error });
  }

  /**
   * One GitHub request. `etag` makes it conditional. Returns {modified:false}
   * on 304, null on 404 when `absentOk`.
   */
  async request<T>(
    route: string,
    params: Record<string, unknown>,
    opts: { etag?: string; absentOk?: boolean; what?: string; budget?: RequestBudget } = {},
  ): Promise<Conditional<T> | null> {
    let transient = 0;
    for (;;) {
      const tok = await this.sendSlot("core", opts.budget);
      let status: number | undefined;
      let headers: Record<string, string> = {};
      let error: unknown;
      try {
        this.requests++;
        const res = await this.withDeadline(opts.what ?? route, (signal) =>
          this.client(tok).request(route, {
            ...params,
            headers: opts.etag ? { "if-none-match": opts.etag } : {},
            request: { signal },
          }));
        this.secondaryStreak = 0;
        this.opts.onResponse?.(route, res.status, res.headers["x-ratelimit-remaining"]);
        await this.noteHeaders(tok, res.headers);
        return { modified: true, etag: res.headers.etag, data: res.data as T, link: res.headers.link };
      } catch (err) {
        error = err;
        status = statusOf(err);
        headers = headersOf(err);
        this.holdIfSpent(tok, status, headers);
        this.opts.onResponse?.(route, hasResponse(err) ? status ?? 0 : 0, headers["x-ratelimit-remaining"]);
      } finally {
        this.gate.release();
      }
      await this.noteHeaders(tok, headers);
      if (status === 304) {
        this.secondaryStreak = 0;
        return { modified: false, etag: opts.etag };
      }
      if (await this.tryAgainAfter(tok, status, headers, error)) continue;
      if (status === 404 && opts.absentOk) return null;
      // A 4xx that is no rate limit (those were waited on above) is GitHub's answer, not a fault: asking
      // again cannot change it (403 without quota spent = no access). 408 and 429 stay transient.
      if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
        // The class names the cause (the job's error_code): absent, refused, or another 4xx.
        const Cls = status === 404 || status === 410
          ? GitHubNotFoundError
          : status === 401
          ? GitHubUnauthorizedError
          : NonRetriableError;
        throw new Cls(`GitHub ${status} for ${opts.what ?? route}`, { cause: error });
      }
      // 5xx, network faults, timeouts: a couple of quick retries with jitter, then the job's backoff decides.
      if (transient < this.opts.transientRetries) {
        transient++;
        await sleep(backoffDelay(transient, { baseMs: 200, maxMs: 2_000 }));
        continue;
      }
      throw this.failure(error, status, "", opts.what ?? route);
    }
  }

  /**
   * One GraphQL query through `octokit.graphql` with the token that has the
   * most GraphQL points left. The answer's `rateLimit { cost remaining
   * resetAt }` (ask for it in every query) feeds the shared quota. GitHub's
   * error shapes: HTTP 200 with `errors` → `RATE_LIMITED` waits for the reset
   * and tries again; other errors come back beside the (partial) data for the
   * caller to judge. HTTP faults map as for REST: 401 drops the token, rate
   * limits wait, 404/422 → NonRetriableError, 5xx/network → retried, then thrown.
   */
  async graphql<T>(
    query: string,
    variables: Record<string, unknown>,
    opts: { what: string; budget?: RequestBudget },
  ): Promise<GraphqlAnswer<T>> {
    let transient = 0;
    for (;;) {
      const tok = (await this.sendSlot("graphql", opts.budget))!;
      let status: number | undefined;
      let headers: Record<string, string> = {};
      let error: unknown;
      try {
        this.requests++;
        this.graphqlRequests++;
        const data = await this.withDeadline(
          opts.what,
          (signal) => this.client(tok).graphql<T>(query, { ...variables, request: { signal } }),
        );
        this.secondaryStreak = 0;
        this.opts.onResponse?.("POST /graphql", 200, undefined);
        await this.noteGraphqlQuota(tok, data);
        return { data, errors: [] };
      } catch (err) {
        error = err;
        status = statusOf(err);
        headers = headersOf(err);
      } finally {
        this.gate.release();
      }
      const answered = graphqlErrorsOf(error);
      if (answered) {
        // HTTP 200 with `errors`: GitHub answered (GraphqlResponseError carries the headers itself).
        headers = ((error as { headers?: Record<string, string> }).headers) ?? {};
        this.opts.onResponse?.("POST /graphql", 200, headers["x-ratelimit-remaining"]);
        await this.noteGraphqlQuota(tok, answered.data);
        if (answered.errors.some((e) => e.type === "RATE_LIMITED")) {
          const reset = Number(headers["x-ratelimit-reset"]) * 1000;
          await this.pool.report(
            tok,
            "graphql",
            0,
            Number.isFinite(reset) && reset > Date.now() ? reset : Date.now() + 60_000,
          );
          continue;
        }
        return { data: answered.data as T | null, errors: answered.errors };
      }
      this.opts.onResponse?.("POST /graphql", hasResponse(error) ? status ?? 0 : 0, headers["x-ratelimit-remaining"]);
      await this.noteHeaders(tok, headers);
      if (await this.tryAgainAfter(tok, status, headers, error)) continue;
      if (status !== undefined && hasResponse(error) && status >= 400 && status < 500) {
        throw new NonRetriableError(`GitHub GraphQL ${status} for ${opts.what}`, { cause: error });
      }
      if (transient < this.opts.transientRetries) {
        transient++;
        await sleep(backoffDelay(transient, { baseMs: 200, maxMs: 2_000 }));
        continue;
      }
      throw this.failure(error, status, "GraphQL ", opts.what);
    }
  }

  /** A GraphQL answer's `rateLimit` (when it asked for one) → the token's shared quota and the points count. */
  private async noteGraphqlQuota(t: PooledToken, data: unknown) {
    const rl = (data as { rateLimit?: { cost?: unknown; remaining?: unknown; resetAt?: unknown } } | null)?.rateLimit;
    if (!rl) return;
    if (typeof rl.cost === "number" && Number.isFinite(rl.cost)) this.graphqlPoints += rl.cost;
    const resetAt = typeof rl.resetAt === "string" ? Date.parse(rl.resetAt) : NaN;
    if (typeof rl.remaining === "number") await this.pool.report(t, "graphql", rl.remaining, resetAt);
  }

  /**
   * Every repository of a user, followed to the listing's real end. Page 1
   * first; then every page up to the last one known (its Link header, or the
   * cached page count when page 1 is a 304) in parallel; then page after page
   * while the last one fetched says there is more (a Link `next`, or a full
   * page from the cache): a 304 on page 1 proves nothing about later pages.
   * Each page is a conditional request with its stored ETag. A repository
   * seen twice (listed while the pages shift) is kept once. `maxRepos` stops
   * the listing early; the result then says it is not complete.
   */
  async listUserRepos(
    username: string,
    cache: { etag(page: number): string | undefined; body(page: number): GithubRepo[] | undefined },
    opts: { maxRepos?: number; budget?: RequestBudget } = {},
  ): Promise<Listing> {
    const maxRepos = opts.maxRepos ?? Number.MAX_SAFE_INTEGER;
    const maxPages = Math.max(1, Math.ceil(maxRepos / PER_PAGE));
    const fetchPage = async (page: number) => {
      const cachedBody = cache.body(page);
      const etag = cachedBody ? cache.etag(page) : undefined;
      const res = await this.request<GithubRepo[]>(
        "GET /users/{username}/repos",
        { username, per_page: PER_PAGE, page, sort: "full_name", type: "owner" },
        { etag, what: `the repositories of ${username}`, budget: opts.budget },
      );
      if (!res) throw new GitHubNotFoundError(`GitHub user ${username} not found`);
      const body = res.modified ? (Array.isArray(res.data) ? res.data : []) : cachedBody!;
      const link = res.modified ? res.link ?? "" : undefined;
      return { page, etag: res.etag, body, modified: res.modified, link };
    };
    type Fetched = Awaited<ReturnType<typeof fetchPage>>;
    /** Is there a page after this one? A fresh page says so in its Link header; a cached one when it is full. */
    const hasNext = (p: Fetched) =>
      p.link !== undefined ? /rel="next"/.test(p.link) && p.body.length > 0 : p.body.length >= PER_PAGE;

    let first: Fetched;
    try {
      first = await fetchPage(1);
    } catch (err) {
      if (err instanceof GitHubNotFoundError) {
        throw new GitHubNotFoundError(`GitHub user ${username} not found`, { cause: err });
      }
      throw err;
    }
    let known = 1;
    const m = first.link?.match(/<[^>]*[?&]page=(\d+)[^>]*>;\s*rel="last"/);
    if (m) known = Number(m[1]);
    else if (!first.modified) { while (cache.body(known + 1)) known++; }
    known = Math.min(known, maxPages);
    const pages: Fetched[] = [first];
    if (known > 1) pages.push(...await Promise.all(Array.from({ length: known - 1 }, (_, i) => fetchPage(i + 2))));
    // Pages past the known end: the cache was short of the truth, or repositories arrived meanwhile.
    while (hasNext(pages[pages.length - 1]) && pages.length < maxPages) {
      pages.push(await fetchPage(pages.length + 1));
    }
    let complete = !hasNext(pages[pages.length - 1]);

    const seen = new Set<string>();
    const repos: GithubRepo[] = [];
    for (const p of pages) {
      for (const r of p.body) {
        const key = typeof r?.name === "string" ? r.name.toLowerCase() : "";
        if (!key || seen.has(key)) continue;
        seen.add(key);
        repos.push(r);
      }
    }
    if (repos.length > maxRepos) {
      repos.length = maxRepos;
      complete = false;
    }
    return {
      repos,
      pages: pages.map(({ page, etag, body, modified }) => ({ page, etag, body, modified })),
      complete,
    };
  }

  /** Does this repository exist under this exact name (not renamed, not gone)? */
  async repoExists(owner: string, repo: string, budget?: RequestBudget): Promise<boolean> {
    const res = await this.request<{ name?: string }>("GET /repos/{owner}/{repo}", { owner, repo }, {
      absentOk: true,
      what: `${owner}/${repo}`,
      budget,
    });
    return Boolean(res?.data && String(res.data.name ?? "").toLowerCase() === repo.toLowerCase());
  }

  /** The README GitHub would show, or null when there is none. With `etag`, {modified:false} means unchanged. */
  async getReadme(owner: string, repo: string, opts: FileRequestOptions = {}): Promise<Conditional<RepoFile> | null> {
    return await this.fileRequest(
      "GET /repos/{owner}/{repo}/readme",
      { owner, repo },
      opts,
      `README of ${owner}/${repo}`,
    );
  }

  async getFile(
    owner: string,
    repo: string,
    path: string,
    opts: FileRequestOptions = {},
  ): Promise<Conditional<RepoFile> | null> {
    return await this.fileRequest(
      "GET /repos/{owner}/{repo}/contents/{path}",
      { owner, repo, path },
      opts,
      `${path} of ${owner}/${repo}`,
    );
  }

  async getLanguages(
    owner: string,
    repo: string,
    opts: { etag?: string; budget?: RequestBudget } = {},
  ): Promise<Conditional<Record<string, number>> | null> {
    return await this.request<Record<string, number>>("GET /repos/{owner}/{repo}/languages", { owner, repo }, {
      etag: opts.etag,
      budget: opts.budget,
      absentOk: true,
      what: `languages of ${owner}/${repo}`,
    });
  }

  private async fileRequest(
    route: string,
    params: Record<string, unknown>,
    opts: FileRequestOptions,
    what: string,
  ) {
    const res = await this.request<
      { content?: string; encoding?: string; sha: string; type?: string; size?: number; name?: string }
    >(route, params, { etag: opts.etag, budget: opts.budget, absentOk: true, what });
    if (!res) return null;
    if (!res.modified) return { modified: false, etag: res.etag } as Conditional<RepoFile>;
    const d = res.data!;
    if (Array.isArray(d) || (d.type && d.type !== "file")) return null; // a directory is not the file we want
    const size = typeof d.size === "number" ? d.size : 0;
    // GitHub leaves out the content of files over 1 MB (encoding "none"): what we have is a cut file.
    const bytes = d.encoding === "base64"
      ? base64ToBytes(d.content ?? "")
      : d.encoding === "none"
      ? new Uint8Array(0)
      : new TextEncoder().encode(d.content ?? "");
    // A binary file has no text (GraphQL's Blob.text is null for one): "" on either path.
    const file = looksBinary(bytes) ? { text: "", truncated: false } : fileText(bytes, opts.maxBytes, size);
    return {
      modified: true,
      etag: res.etag,
      data: { ...file, sha: d.sha, name: typeof d.name === "string" ? d.name : undefined },
    };
  }
}

export interface FileRequestOptions {
  etag?: string;
  budget?: RequestBudget;
  /** Longest text kept; longer files are cut (at a character boundary) and flagged. */
  maxBytes?: number;
}

/**
 * A file's bytes as text, cut to `maxBytes` at a UTF-8 character boundary;
 * `truncated` when it was cut here or arrived shorter than its `size`.
 */
export function fileText(bytes: Uint8Array, maxBytes = Number.MAX_SAFE_INTEGER, size = 0): {
  text: string;
  truncated: boolean;
} {
  let cut = bytes;
  if (bytes.byteLength > maxBytes) {
    let end = maxBytes;
    // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
    while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
    cut = bytes.subarray(0, end);
  }
  return {
    text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(cut),
    truncated: cut.byteLength < bytes.byteLength || size > bytes.byteLength,
  };
}

/** Git's test for binary content (as GitHub's `isBinary`): a NUL byte in the first 8,000 bytes. */
export function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.byteLength, 8000);
  for (let i = 0; i < n; i++) if (bytes[i] === 0) return true;
  return false;
}

function base64ToBytes(b64: string): Uint8Array {
  const clean = b64.replace(/\s+/g, "");
  const bin = atob(clean);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
