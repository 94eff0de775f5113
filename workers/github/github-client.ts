import { Octokit } from "@octokit/rest";
import type { Redis } from "ioredis";
import { NonRetriableError, RetryAfterError } from "../../shared/errors.ts";
import type { GithubRepo } from "../../shared/schemas/repo.ts";
import { Semaphore } from "./semaphore.ts";

export interface GithubClientOptions {
  baseUrl: string;
  token?: string;
  /** Most requests in flight (GitHub documents 100 concurrent requests). */
  maxInFlight?: number;
  /** Shared pause key so every worker process waits out a rate limit together. */
  redis?: Redis;
  pauseKey?: string;
  /** Longest a request waits for a rate-limit reset before giving up with RetryAfterError. */
  maxRateWaitMs?: number;
  /** Quick in-request retries of 5xx/network faults before the job's own backoff takes over. */
  transientRetries?: number;
  log?: (msg: string) => void;
  /** Each answer (status 0: none came) with its x-ratelimit-remaining header: for metrics. */
  onResponse?: (route: string, status: number, rateLimitRemaining: string | undefined) => void;
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
  /** Exact bytes decoded from GitHub's base64. */
  text: string;
  sha: string;
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

/**
 * The one way workers talk to GitHub: Octokit with conditional requests,
 * at most `maxInFlight` concurrent requests, rate limits waited out together
 * (no burst while waiting), and GitHub's answers mapped onto typed errors:
 * 404/422 → NonRetriableError (callers that expect absence ask for null),
 * 403/429 with the quota spent or `retry-after` → wait, then RetryAfterError
 * when the wait would be too long; 5xx/network → retried, then thrown.
 */
export class GithubClient {
  readonly octokit: Octokit;
  private readonly gate: Semaphore;
  private pausedUntil = 0;
  private readonly opts:
    & Required<Omit<GithubClientOptions, "token" | "redis" | "log" | "onResponse">>
    & GithubClientOptions;
  requests = 0;

  constructor(opts: GithubClientOptions) {
    this.opts = {
      maxInFlight: 100,
      pauseKey: "fs:github:paused-until",
      maxRateWaitMs: 60 * 60_000,
      transientRetries: 2,
      ...opts,
    };
    this.octokit = new Octokit({
      baseUrl: opts.baseUrl.replace(/\/+$/, ""),
      ...(opts.token ? { auth: opts.token } : {}),
      userAgent: "foliosync",
      request: { retries: 0 },
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
    this.gate = new Semaphore(this.opts.maxInFlight);
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

  private async pause(until: number) {
    this.pausedUntil = Math.max(this.pausedUntil, until);
    if (this.opts.redis) {
      const ttl = Math.max(1, until - Date.now());
      // Only ever extend the shared pause.
      const cur = Number(await this.opts.redis.get(this.opts.pauseKey)) || 0;
      if (until > cur) await this.opts.redis.set(this.opts.pauseKey, String(until), "PX", ttl);
    }
  }

  /** Is this a rate-limit answer? Returns when the quota is back (epoch ms), else null. */
  private rateLimitedUntil(status: number | undefined, headers: Record<string, string>): number | null {
    if (status !== 403 && status !== 429) return null;
    const retryAfter = headers["retry-after"];
    if (retryAfter !== undefined && retryAfter !== "") return Date.now() + Math.max(1, Number(retryAfter)) * 1000;
    if (headers["x-ratelimit-remaining"] === "0") {
      const reset = Number(headers["x-ratelimit-reset"]) * 1000;
      return Number.isFinite(reset) && reset > Date.now() ? reset + 250 : Date.now() + 1000;
    }
    if (status === 429) return Date.now() + 60_000;
    return null;
  }

  /**
   * One GitHub request. `etag` makes it conditional. Returns {modified:false}
   * on 304, null on 404 when `absentOk`.
   */
  async request<T>(
    route: string,
    params: Record<string, unknown>,
    opts: { etag?: string; absentOk?: boolean; what?: string } = {},
  ): Promise<Conditional<T> | null> {
    let transient = 0;
    for (;;) {
      await this.waitForQuota();
      await this.gate.acquire();
      let status: number | undefined;
      let headers: Record<string, string> = {};
      let error: unknown;
      try {
        this.requests++;
        const res = await this.octokit.request(route, {
          ...params,
          headers: opts.etag ? { "if-none-match": opts.etag } : {},
        });
        this.opts.onResponse?.(route, res.status, res.headers["x-ratelimit-remaining"]);
        return { modified: true, etag: res.headers.etag, data: res.data as T, link: res.headers.link };
      } catch (err) {
        error = err;
        status = statusOf(err);
        headers = headersOf(err);
        this.opts.onResponse?.(route, hasResponse(err) ? status ?? 0 : 0, headers["x-ratelimit-remaining"]);
      } finally {
        this.gate.release();
      }
      if (status === 304) return { modified: false, etag: opts.etag };
      const until = this.rateLimitedUntil(status, headers);
      if (until !== null) {
        await this.pause(until);
        continue; // waitForQuota holds every request until the reset
      }
      if (status === 404 && opts.absentOk) return null;
      if (status === 404 || status === 422 || status === 401 || status === 451 || status === 410) {
        throw new NonRetriableError(`GitHub ${status} for ${opts.what ?? route}`, { cause: error });
      }
      // 5xx, network faults: a couple of quick retries with jitter, then let the job's backoff decide.
      if (transient < this.opts.transientRetries) {
        transient++;
        await sleep(100 * 2 ** transient * (0.5 + Math.random()));
        continue;
      }
      // Octokit reports a request that never got an answer (DNS, refused, reset) as status 500
      // without a response: say what happened rather than blame GitHub for a 500.
      const answered = status !== undefined && hasResponse(error);
      const msg = answered
        ? `GitHub ${status} for ${opts.what ?? route}`
        : `GitHub unreachable for ${opts.what ?? route}: ${networkReason(error)}`;
      throw new Error(msg, { cause: error });
    }
  }

  /**
   * Every repository of a user. Page 1 first; once its Link header names the
   * last page, all other pages are fetched in parallel. Each page is a
   * conditional request with its stored ETag; `cached(page)` returns the
   * stored page for 304s.
   */
  async listUserRepos(
    username: string,
    cache: { etag(page: number): string | undefined; body(page: number): GithubRepo[] | undefined },
  ): Promise<{ repos: GithubRepo[]; pages: { page: number; etag?: string; body: GithubRepo[]; modified: boolean }[] }> {
    const fetchPage = async (page: number) => {
      const cachedBody = cache.body(page);
      const etag = cachedBody ? cache.etag(page) : undefined;
      const res = await this.request<GithubRepo[]>(
        "GET /users/{username}/repos",
        { username, per_page: 100, page, sort: "full_name", type: "owner" },
        { etag, what: `the repositories of ${username}` },
      );
      if (!res) throw new NonRetriableError(`GitHub user ${username} not found`);
      const body = res.modified ? res.data! : cachedBody!;
      return { page, etag: res.etag, body, modified: res.modified, link: res.link };
    };
    let first;
    try {
      first = await fetchPage(1);
    } catch (err) {
      if (err instanceof NonRetriableError && /GitHub 404/.test(err.message)) {
        throw new NonRetriableError(`GitHub user ${username} not found`, { cause: err });
      }
      throw err;
    }
    let lastPage = 1;
    const m = first.link?.match(/<[^>]*[?&]page=(\d+)[^>]*>;\s*rel="last"/);
    if (m) lastPage = Number(m[1]);
    else if (!first.modified) {
      // 304: page count unknown from headers; use the cached pages we have.
      while (cache.body(lastPage + 1)) lastPage++;
    }
    const rest = await Promise.all(Array.from({ length: lastPage - 1 }, (_, i) => fetchPage(i + 2)));
    const pages = [first, ...rest];
    return { repos: pages.flatMap((p) => p.body), pages };
  }

  /** A file's text, or null when absent. With `etag`, {modified:false} means unchanged. */
  async getReadme(owner: string, repo: string, etag?: string): Promise<Conditional<RepoFile> | null> {
    return await this.fileRequest(
      "GET /repos/{owner}/{repo}/readme",
      { owner, repo },
      etag,
      `README of ${owner}/${repo}`,
    );
  }

  async getFile(owner: string, repo: string, path: string, etag?: string): Promise<Conditional<RepoFile> | null> {
    return await this.fileRequest(
      "GET /repos/{owner}/{repo}/contents/{path}",
      { owner, repo, path },
      etag,
      `${path} of ${owner}/${repo}`,
    );
  }

  async getLanguages(owner: string, repo: string, etag?: string): Promise<Conditional<Record<string, number>> | null> {
    return await this.request<Record<string, number>>("GET /repos/{owner}/{repo}/languages", { owner, repo }, {
      etag,
      absentOk: true,
      what: `languages of ${owner}/${repo}`,
    });
  }

  private async fileRequest(route: string, params: Record<string, unknown>, etag: string | undefined, what: string) {
    const res = await this.request<{ content?: string; encoding?: string; sha: string; type?: string }>(route, params, {
      etag,
      absentOk: true,
      what,
    });
    if (!res) return null;
    if (!res.modified) return { modified: false, etag: res.etag } as Conditional<RepoFile>;
    const d = res.data!;
    if (Array.isArray(d) || (d.type && d.type !== "file")) return null; // a directory is not the file we want
    const bytes = d.encoding === "base64" ? base64ToBytes(d.content ?? "") : new TextEncoder().encode(d.content ?? "");
    return {
      modified: true,
      etag: res.etag,
      data: { text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes), sha: d.sha },
    };
  }
}

function base64ToBytes(b64: string): Uint8Array {
  const clean = b64.replace(/\s+/g, "");
  const bin = atob(clean);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
