/**
 * Starts scripts/github-fixture-server.ts in a child process (Bun) on a free
 * port, for tests under both `bun test` and `deno test`, and wraps its
 * `/_fixture/` control endpoints. stop() kills the process; process.ts kills it
 * at exit at the latest.
 */
import { join } from "node:path";
import { bunBin, repoRoot } from "./paths.ts";
import { type Managed, startProcess, waitForOutput } from "./process.ts";

export interface FixtureServerOptions {
  /** Folder holding `<owner>/repos.json` (default: the shared fixtures). */
  fixtures?: string;
  rateLimit?: number;
  rateWindowS?: number;
  latencyMs?: number;
  failRate?: number;
  seed?: number;
  /** Probability that a request hangs (held without an answer; see hangMs). */
  hangRate?: number;
  /** How long a hanging request is held before it is answered; 0: until the client hangs up. */
  hangMs?: number;
  /** Extra environment for the child. */
  env?: Record<string, string>;
}

export interface FixtureStats {
  list: number;
  repo: number;
  readme: number;
  contents: number;
  languages: number;
  rate_limit: number;
  user: number;
  other: number;
  /** Every API request received (not /_fixture). */
  total: number;
  /** Answered normally (not 304, not rate-limited, not injected 502): these counted against the limit. */
  served: number;
  ok: number;
  not_found: number;
  not_modified: number;
  rate_limited: number;
  /** Rate-limit windows (per token and resource) in which any request was refused. */
  rate_limited_windows: number;
  /** Most requests refused within one such window. */
  max_rate_limited_per_window: number;
  /** Requests answered with an injected secondary rate limit. */
  secondary_limited: number;
  /** POST /graphql requests. */
  graphql: number;
  /** Points GraphQL queries cost. */
  graphql_points: number;
  /** File contents (Blob.text) GraphQL served. */
  graphql_blobs: number;
  /** GraphQL answers that carried `errors`. */
  graphql_errors: number;
  /** Requests refused with 401 (no token for GraphQL, or a bad one). */
  unauthorized: number;
  graphql_rate: { limit: number; used: number; remaining: number; reset: number; resource: string };
  /** Quota spent per token, by a short hash of the token. */
  tokens: Record<string, { core: number; graphql: number }>;
  failed_injected: number;
  /** Requests held without an answer (hang_rate). */
  hung: number;
  in_flight: number;
  max_in_flight: number;
  rate: { limit: number; used: number; remaining: number; reset: number; resource: string };
  config: FixtureConfig;
}

export interface FixtureConfig {
  latency_ms?: number;
  fail_rate?: number;
  /** Probability that an API request hangs: held without a byte of answer for hang_ms (0: until the client hangs up). */
  hang_rate?: number;
  hang_ms?: number;
  seed?: number;
  rate_limit?: number;
  rate_window_s?: number;
  /** The next `count` API requests get GitHub's secondary-limit 403 (with `retry-after` when given). */
  secondary_limit?: { count: number; retry_after?: number | null };
  /** Tokens answered with 401 Bad credentials. */
  bad_tokens?: string[];
  /** false: POST /graphql answers 404. */
  graphql?: boolean;
}

export interface PushChanges {
  /** The push's time (ISO); default now. Always later than the repo's previous push. */
  pushed_at?: string;
  readme?: string;
  /** path → content; null deletes the file. */
  files?: Record<string, string | null>;
}

export interface FixtureServer {
  url: string;
  port: number;
  process: Managed;
  /** fetch() against the server: `get("/users/x/repos")`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  stats(): Promise<FixtureStats>;
  resetStats(): Promise<void>;
  /** New pushed_at/updated_at (strictly later), README and files replaced in memory. Returns the repo object. */
  push(owner: string, repo: string, changes?: PushChanges): Promise<Record<string, unknown>>;
  /** Adds/replaces (content null: deletes) one file without touching the dates unless touch. */
  setFile(owner: string, repo: string, path: string, content: string | null, touch?: boolean): Promise<void>;
  deleteRepo(owner: string, repo: string): Promise<void>;
  addRepo(
    owner: string,
    repo: string,
    init?: PushChanges & { language?: string; description?: string; languages?: Record<string, number> },
  ): Promise<Record<string, unknown>>;
  config(cfg: FixtureConfig): Promise<FixtureConfig>;
  /**
   * Queues a change — `push`, `set-file`, `delete-repo`, `add-repo` or `config`,
   * with that endpoint's body (owner, repo, …) — made right after the next
   * listing is answered (a REST page of the user's repos, or a GraphQL query
   * listing `repositories`): GitHub changing between a listing and the
   * fetches after it.
   */
  afterListing(
    action: "push" | "set-file" | "delete-repo" | "add-repo" | "config",
    body: Record<string, unknown>,
  ): Promise<void>;
  /** Everything back as on disk, stats cleared, rate-limit window restarted. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export const fixtureServerScript = join(repoRoot, "scripts", "github-fixture-server.ts");

export async function startFixtureServer(opts: FixtureServerOptions = {}): Promise<FixtureServer> {
  const args = [fixtureServerScript, "--port", "0"];
  if (opts.fixtures) args.push("--fixtures", opts.fixtures);
  if (opts.rateLimit !== undefined) args.push("--rate-limit", String(opts.rateLimit));
  if (opts.rateWindowS !== undefined) args.push("--rate-window-s", String(opts.rateWindowS));
  if (opts.latencyMs !== undefined) args.push("--latency-ms", String(opts.latencyMs));
  if (opts.failRate !== undefined) args.push("--fail-rate", String(opts.failRate));
  if (opts.seed !== undefined) args.push("--seed", String(opts.seed));
  if (opts.hangRate !== undefined) args.push("--hang-rate", String(opts.hangRate));
  if (opts.hangMs !== undefined) args.push("--hang-ms", String(opts.hangMs));
  // deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
  const g = globalThis as any;
  const baseEnv: Record<string, string> = g.Deno?.env?.toObject?.() ?? g.process?.env ?? {};
  const proc = startProcess(bunBin, args, { cwd: repoRoot, env: { ...baseEnv, ...opts.env } });
  let url: string;
  try {
    const m = await waitForOutput(proc, /github-fixture-server listening on (http:\/\/\S+)/, 20_000);
    url = m[1];
  } catch (err) {
    await proc.stop(500);
    throw err;
  }
  const port = Number(new URL(url).port);

  const call = async (path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`fixture server ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : {};
  };

  return {
    url,
    port,
    process: proc,
    fetch: (path, init) => fetch(url + path, init),
    stats: () => call("/_fixture/stats"),
    resetStats: async () => void (await call("/_fixture/reset-stats", {})),
    push: (owner, repo, changes = {}) => call("/_fixture/push", { owner, repo, ...changes }),
    setFile: async (owner, repo, path, content, touch) =>
      void (await call("/_fixture/set-file", { owner, repo, path, content, touch: !!touch })),
    deleteRepo: async (owner, repo) => void (await call("/_fixture/delete-repo", { owner, repo })),
    addRepo: (owner, repo, init = {}) => call("/_fixture/add-repo", { owner, repo, ...init }),
    config: (cfg) => call("/_fixture/config", cfg),
    afterListing: async (action, body) => void (await call("/_fixture/after-listing", { ...body, action })),
    reset: async () => void (await call("/_fixture/reset", {})),
    stop: () => proc.stop(2000),
  };
}
