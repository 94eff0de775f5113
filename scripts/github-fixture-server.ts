/**
 * A local, GitHub-REST-compatible server over the fixture data in
 * `../shared/fixtures/github/<owner>/` — enough of the API that unmodified
 * `@octokit/rest` (with `baseUrl` pointed here) can list a user's repositories,
 * read READMEs, context files and languages, and see ETags, 304s and rate
 * limits the way GitHub sends them — and `POST /graphql`, GitHub's GraphQL
 * API over the same data (scripts/fixture-graphql/). Quotas are kept per
 * token (the `Authorization` header; none: one shared bucket) and per
 * resource (REST requests, GraphQL points).
 *
 * Written against `node:http` so it runs under Bun and Deno alike.
 *
 * CLI:  bun scripts/github-fixture-server.ts --port N [--host H] [--fixtures DIR]
 *         [--rate-limit N] [--rate-window-s S] [--latency-ms N] [--fail-rate F] [--seed S]
 *         [--hang-rate F] [--hang-ms N]
 *       prints exactly one line: `github-fixture-server listening on http://127.0.0.1:PORT`
 * Module: `startFixtureServer(opts) → Promise<{url, port, close()}>`
 *
 * Test-only control endpoints live under `/_fixture/` (stats, reset-stats,
 * reset, config, push, set-file, delete-repo, add-repo, after-listing). All mutable state is
 * in memory; the fixture directory is only ever read.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rng } from "../shared/ranking/hash.ts";
import { type FixtureData, type FixtureRepo, runFixtureGraphql } from "./fixture-graphql/index.ts";
import { generatedUser } from "./fixtures/generated-users.ts";
import { numberFlag, parseScriptArgs } from "./lib/cli-args.ts";

// ---------------------------------------------------------------------------
// Options

export interface FixtureServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The folder holding `<owner>/repos.json` (a folder holding `github/` is accepted too). */
  fixturesDir?: string;
  /** Requests per window that count against the limit; default 1,000,000 (effectively unlimited). */
  rateLimit?: number;
  /** Length of the rate-limit window in seconds; default 3600. */
  rateWindowS?: number;
  /** Delay added to every API response, in ms (never blocks other requests). */
  latencyMs?: number;
  /** Probability of an injected 502 per API request (seeded PRNG). */
  failRate?: number;
  /** PRNG seed for --fail-rate and --hang-rate; default 1. */
  seed?: number;
  /**
   * Probability that an API request hangs (seeded PRNG, drawn apart from
   * --fail-rate's): it is held without a byte of answer for `hangMs`, then
   * answered as usual; with `hangMs` 0 (default) it is never answered and
   * held until the client gives up.
   */
  hangRate?: number;
  /** How long a hanging request is held before it is answered; 0: until the client hangs up. */
  hangMs?: number;
}

export interface RunningFixtureServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const DEFAULT_RATE_LIMIT = 1_000_000;
const DOCS = "https://docs.github.com/rest";
const RATE_DOCS = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function envVar(name: string): string | undefined {
  // deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
  const g = globalThis as any;
  try {
    return g.Deno?.env?.get?.(name) ?? g.process?.env?.[name];
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** `<FOLIOSYNC_FIXTURES_DIR>/github`, else `<repo>/../shared/fixtures/github`. */
export function defaultFixturesDir(): string {
  const env = envVar("FOLIOSYNC_FIXTURES_DIR");
  return env ? join(resolve(env), "github") : resolve(repoRoot, "..", "shared", "fixtures", "github");
}

function resolveFixturesDir(dir?: string): string {
  if (!dir) return defaultFixturesDir();
  const abs = resolve(dir);
  const nested = join(abs, "github");
  if (isDir(nested) && !existsSync(join(nested, "repos.json"))) return nested;
  return abs;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Fixture state (in memory; reloaded from disk by reset)

type Json = Record<string, unknown>;

interface RepoState {
  /** The repos.json object (mutable copy). */
  meta: Json;
  /** Directory on disk ("" for repos added at runtime). */
  dir: string;
  /** Repo-relative path → bytes; loaded on first access. languages.json is kept apart. */
  files: Map<string, Uint8Array> | null;
  languages: Json | null | undefined;
  /**
   * Contents a push replaced or deleted: still in the repository's history, so
   * still served by git object id (GraphQL `nodes(ids:)`, `object(oid:)`) as
   * GitHub does, until the repository itself is deleted.
   */
  past?: Uint8Array[];
}

interface OwnerState {
  login: string;
  /** Keyed by lower-cased repo name, in repos.json order. */
  repos: Map<string, RepoState>;
}

function loadOwners(fixturesDir: string): Map<string, OwnerState> {
  const owners = new Map<string, OwnerState>();
  let entries: string[];
  try {
    entries = readdirSync(fixturesDir);
  } catch (err) {
    throw new Error(`github-fixture-server: cannot read fixtures dir ${fixturesDir}: ${err}`);
  }
  for (const name of entries) {
    const reposFile = join(fixturesDir, name, "repos.json");
    if (!existsSync(reposFile)) continue;
    const list = JSON.parse(readFileSync(reposFile, "utf8")) as Json[];
    const first = list[0]?.owner as Json | undefined;
    const login = typeof first?.login === "string" ? first.login : name;
    const repos = new Map<string, RepoState>();
    for (const meta of list) {
      const repoName = String(meta.name);
      repos.set(repoName.toLowerCase(), {
        meta: structuredClone(meta),
        dir: join(fixturesDir, name, repoName),
        files: null,
        languages: undefined,
      });
    }
    owners.set(login.toLowerCase(), { login, repos });
  }
  return owners;
}

function walkFiles(root: string, rel = "", out = new Map<string, Uint8Array>()): Map<string, Uint8Array> {
  let entries: string[];
  try {
    entries = readdirSync(join(root, rel));
  } catch {
    return out;
  }
  for (const name of entries) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = join(root, r);
    const st = statSync(abs);
    if (st.isDirectory()) walkFiles(root, r, out);
    else if (st.isFile()) out.set(r, new Uint8Array(readFileSync(abs)));
  }
  return out;
}

/**
 * Each fixture repository's files as read from disk, kept for the life of the
 * process (the fixture directory is only ever read): `reset` starts from a
 * fresh copy of the map without reading the disk again. The bytes are shared:
 * changes replace a file's entry, never its bytes.
 */
const diskFiles = new Map<string, Map<string, Uint8Array>>();

function repoFiles(repo: RepoState): Map<string, Uint8Array> {
  if (!repo.files) {
    let disk = repo.dir ? diskFiles.get(repo.dir) : undefined;
    if (repo.dir && !disk) diskFiles.set(repo.dir, disk = walkFiles(repo.dir));
    const all = new Map(disk ?? []);
    const langs = all.get("languages.json");
    // languages.json is fixture metadata (served by /languages), not a file of the repository.
    all.delete("languages.json");
    repo.files = all;
    if (repo.languages === undefined) {
      repo.languages = langs ? (JSON.parse(new TextDecoder().decode(langs)) as Json) : null;
    }
  }
  return repo.files;
}

// ---------------------------------------------------------------------------
// Helpers

const enc = new TextEncoder();

function sha1Hex(data: Uint8Array | string): string {
  return createHash("sha1").update(data).digest("hex");
}

const blobShas = new WeakMap<Uint8Array, string>();

/** Git blob id: sha1("blob <len>\0" + bytes), computed once per file content (bytes are never changed in place). */
export function gitBlobSha(bytes: Uint8Array): string {
  let sha = blobShas.get(bytes);
  if (sha === undefined) {
    const h = createHash("sha1");
    h.update(`blob ${bytes.byteLength}\0`);
    h.update(bytes);
    blobShas.set(bytes, sha = h.digest("hex"));
  }
  return sha;
}

/** Base64 with a newline after every 60 characters, the way GitHub sends file content. */
function githubBase64(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  let out = "";
  for (let i = 0; i < b64.length; i += 60) out += b64.slice(i, i + 60) + "\n";
  return out;
}

function numericId(s: string): number {
  return parseInt(sha1Hex(s).slice(0, 8), 16) % 900_000_000 + 100_000;
}

function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** Decodes and validates a repo-relative path; null when it is not a safe relative path. */
function safeRelPath(raw: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (decoded === "") return "";
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  if (decoded.startsWith("/")) return null;
  const trimmed = decoded.endsWith("/") ? decoded.slice(0, -1) : decoded;
  const segs = trimmed.split("/");
  for (const s of segs) if (s === "" || s === "." || s === "..") return null;
  return segs.join("/");
}

function readmeName(files: Map<string, Uint8Array>): string | null {
  const root = [...files.keys()].filter((p) => !p.includes("/"));
  const byLower = new Map(root.map((p) => [p.toLowerCase(), p]));
  for (const c of ["readme.md", "readme", "readme.markdown", "readme.rst", "readme.txt"]) {
    const hit = byLower.get(c);
    if (hit) return hit;
  }
  return root.find((p) => p.toLowerCase().startsWith("readme.")) ?? null;
}

function withDefaults(meta: Json): Json {
  const full = String(meta.full_name ?? "");
  return {
    id: numericId(full),
    node_id: `R_${sha1Hex(full).slice(0, 16)}`,
    ...meta,
    forks_count: meta.forks_count ?? 0,
    homepage: meta.homepage ?? null,
    license: meta.license ?? null,
    open_issues_count: meta.open_issues_count ?? 0,
    watchers_count: meta.watchers_count ?? meta.stargazers_count ?? 0,
    // GitHub always has both dates (GraphQL declares them non-null); a fixture entry without them gets a fixed one.
    created_at: meta.created_at ?? FIXTURE_EPOCH,
    updated_at: meta.updated_at ?? meta.created_at ?? FIXTURE_EPOCH,
  };
}

/** The date a fixture repository without dates was created and updated. */
const FIXTURE_EPOCH = "2020-01-01T00:00:00Z";

async function readBody(req: IncomingMessage): Promise<Json> {
  const chunks: Uint8Array[] = [];
  for await (const c of req) chunks.push(typeof c === "string" ? enc.encode(c) : c);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) return {};
  const v = JSON.parse(text);
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("body must be a JSON object");
  return v as Json;
}

// ---------------------------------------------------------------------------
// Server

type RouteKind =
  | "list"
  | "repo"
  | "readme"
  | "contents"
  | "languages"
  | "rate_limit"
  | "user"
  | "graphql"
  | "other";
const ROUTE_KINDS: RouteKind[] = [
  "list",
  "repo",
  "readme",
  "contents",
  "languages",
  "rate_limit",
  "user",
  "graphql",
  "other",
];
type RateResource = "core" | "graphql";
/** The changes `/_fixture/after-listing` can queue. */
const AFTER_LISTING_ACTIONS = new Set(["push", "set-file", "delete-repo", "add-repo", "config"]);

/** The token of an `Authorization: token X` / `Bearer X` header ("" without one). */
function tokenOf(header: string | undefined): string {
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(header ?? "");
  return m ? m[1] : "";
}
/** How stats name a token: a short hash, never the token. */
function tokenLabel(token: string): string {
  return token ? createHash("sha256").update(token).digest("hex").slice(0, 8) : "anonymous";
}

interface Reply {
  status: number;
  body: Uint8Array;
  headers?: Record<string, string>;
  /** Raw (non-JSON) body content type. */
  contentType?: string;
}

interface Stats {
  [k: string]: number;
}

function freshStats(): Stats {
  const s: Stats = {};
  for (const k of ROUTE_KINDS) s[k] = 0;
  Object.assign(s, {
    total: 0, // every API request received (not /_fixture)
    served: 0, // answered normally (not 304, not 403 rate-limited, not injected 502); counted against the limit
    ok: 0, // 2xx answers
    not_found: 0,
    not_modified: 0,
    rate_limited: 0,
    rate_limited_windows: 0, // rate-limit windows (per token and resource) in which anything was refused
    max_rate_limited_per_window: 0, // most requests refused within one such window
    secondary_limited: 0,
    failed_injected: 0,
    hung: 0, // requests held without an answer (hang_rate)
    graphql_points: 0, // points GraphQL queries cost
    graphql_blobs: 0, // file contents (Blob.text) served by GraphQL
    graphql_errors: 0, // GraphQL answers carrying errors
    unauthorized: 0,
    in_flight: 0,
    max_in_flight: 0,
  });
  return s;
}

class FixtureServer {
  owners: Map<string, OwnerState>;
  stats = freshStats();
  rateLimit: number;
  rateWindowS: number;
  latencyMs: number;
  failRate: number;
  seed: number;
  rand: () => number;
  hangRate: number;
  hangMs: number;
  /** Its own PRNG, so that hanging leaves the --fail-rate sequence of a seed as it was. */
  hangRand: () => number;
  buckets = new Map<string, { windowStart: number; used: number }>();
  /** Quota spent per token (by label, never the token itself), for /_fixture/stats. */
  tokenStats: Record<string, { core: number; graphql: number }> = {};
  lastToken = "";
  /** Tokens answered with 401 Bad credentials. */
  badTokens = new Set<string>();
  /** false: POST /graphql answers 404 (as where GraphQL is not offered). */
  graphqlEnabled = true;
  cache = new Map<string, Reply>();
  /** Refusals in the current rate-limit window, per bucket (token and resource). */
  refusals = new Map<string, { windowStart: number; count: number }>();
  /** Injected secondary rate limits: the next `count` API requests get GitHub's secondary-limit 403. */
  secondary = { count: 0, retryAfterS: null as number | null };
  /**
   * Changes to make right after the next listing is answered (a REST page of
   * `/users/x/repos`, or a GraphQL query that lists `repositories`): GitHub
   * changing between a listing and the file fetches that follow it.
   */
  afterListing: { action: string; body: Json }[] = [];

  constructor(readonly fixturesDir: string, opts: FixtureServerOptions) {
    this.owners = loadOwners(fixturesDir);
    this.rateLimit = opts.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.rateWindowS = opts.rateWindowS ?? 3600;
    this.latencyMs = opts.latencyMs ?? 0;
    this.failRate = opts.failRate ?? 0;
    this.seed = opts.seed ?? 1;
    this.rand = rng(this.seed);
    this.hangRate = opts.hangRate ?? 0;
    this.hangMs = opts.hangMs ?? 0;
    this.hangRand = rng(this.seed + 0x9e3779b9);
  }

  // --- rate limit ---------------------------------------------------------
  // GitHub keeps a quota per token and per resource (REST "core", GraphQL
  // points); requests without a token share the "" bucket.

  private bucket(token: string, resource: RateResource): { windowStart: number; used: number } {
    const key = `${resource}\u0000${token}`;
    let b = this.buckets.get(key);
    const now = Date.now();
    if (!b) this.buckets.set(key, b = { windowStart: now, used: 0 });
    if (now >= b.windowStart + this.rateWindowS * 1000) {
      b.windowStart = now;
      b.used = 0;
    }
    return b;
  }

  /** Spends `n` of a token's quota (requests for REST, points for GraphQL). */
  spend(token: string, resource: RateResource, n: number) {
    this.bucket(token, resource).used += n;
    const fp = tokenLabel(token);
    const t = this.tokenStats[fp] ??= { core: 0, graphql: 0 };
    t[resource] += n;
  }

  /** Counts a request refused for a spent quota, per window: how many came after the quota ran out. */
  refused(token: string, resource: RateResource) {
    const s = this.stats;
    s.rate_limited++;
    const key = `${resource}\u0000${token}`;
    const start = this.bucket(token, resource).windowStart;
    let w = this.refusals.get(key);
    if (!w || w.windowStart !== start) {
      this.refusals.set(key, w = { windowStart: start, count: 0 });
      s.rate_limited_windows++;
    }
    w.count++;
    s.max_rate_limited_per_window = Math.max(s.max_rate_limited_per_window, w.count);
  }

  rateState(token = this.lastToken, resource: RateResource = "core") {
    const b = this.bucket(token, resource);
    const reset = Math.ceil((b.windowStart + this.rateWindowS * 1000) / 1000);
    return {
      limit: this.rateLimit,
      used: b.used,
      remaining: Math.max(0, this.rateLimit - b.used),
      reset,
      resource,
    };
  }

  rateHeaders(token = this.lastToken, resource: RateResource = "core"): Record<string, string> {
    const r = this.rateState(token, resource);
    return {
      "x-ratelimit-limit": String(r.limit),
      "x-ratelimit-remaining": String(r.remaining),
      "x-ratelimit-reset": String(r.reset),
      "x-ratelimit-used": String(r.used),
      "x-ratelimit-resource": resource,
    };
  }

  // --- routing --------------------------------------------------------------

  private owner(name: string): OwnerState | undefined {
    const key = name.toLowerCase();
    // `gen-<N>` owners are generated on first use (scripts/fixtures/generated-users.ts).
    if (!this.owners.has(key)) {
      const generated = generatedUser(name);
      if (generated) this.owners.set(key, generated);
    }
    return this.owners.get(key);
  }

  private repo(owner: string, name: string): RepoState | undefined {
    return this.owner(owner)?.repos.get(name.toLowerCase());
  }

  private json(status: number, value: unknown, headers?: Record<string, string>): Reply {
    return { status, body: enc.encode(JSON.stringify(value)), headers };
  }

  private notFound(): Reply {
    return this.json(404, { message: "Not Found", documentation_url: DOCS, status: "404" });
  }

  classify(path: string): RouteKind {
    const p = path.split("/").filter((s, i) => i > 0 || s !== "");
    if (p.length === 1 && p[0] === "rate_limit") return "rate_limit";
    if (p[0] === "users" && p.length === 2) return "user";
    if (p[0] === "users" && p.length === 3 && p[2] === "repos") return "list";
    if (p[0] === "repos" && p.length === 3) return "repo";
    if (p[0] === "repos" && p.length >= 4) {
      if (p[3] === "readme") return "readme";
      if (p[3] === "contents") return "contents";
      if (p[3] === "languages" && p.length === 4) return "languages";
    }
    return "other";
  }

  /** Builds the answer for an API GET (rate-limit bookkeeping happens in the caller). */
  route(kind: RouteKind, path: string, query: URLSearchParams, origin: string, raw: boolean): Reply {
    const parts = path.split("/").slice(1); // leading ""
    switch (kind) {
      case "rate_limit": {
        const core = this.rateState();
        const other = (limit: number) => ({ limit, used: 0, remaining: limit, reset: core.reset });
        return this.json(200, {
          resources: {
            core,
            search: { ...other(30), resource: "search" },
            graphql: this.rateState(this.lastToken, "graphql"),
          },
          rate: core,
        });
      }
      case "user": {
        const o = this.owner(decodeURIComponent(parts[1]));
        if (!o) return this.notFound();
        return this.json(200, this.userObject(o, origin));
      }
      case "list":
        return this.list(decodeURIComponent(parts[1]), query, origin, path);
      case "repo": {
        const r = this.repo(decodeURIComponent(parts[1]), decodeURIComponent(parts[2]));
        if (!r) return this.notFound();
        return this.json(200, withDefaults(r.meta));
      }
      case "languages": {
        const r = this.repo(decodeURIComponent(parts[1]), decodeURIComponent(parts[2]));
        if (!r) return this.notFound();
        repoFiles(r);
        return this.json(200, r.languages ?? {});
      }
      case "readme": {
        const r = this.repo(decodeURIComponent(parts[1]), decodeURIComponent(parts[2]));
        if (!r || parts.length !== 4) return this.notFound();
        const files = repoFiles(r);
        const name = readmeName(files);
        if (!name) return this.notFound();
        return this.fileReply(r, name, files.get(name)!, origin, raw);
      }
      case "contents": {
        const r = this.repo(decodeURIComponent(parts[1]), decodeURIComponent(parts[2]));
        if (!r) return this.notFound();
        const rawRel = parts.slice(4).join("/");
        const rel = safeRelPath(rawRel);
        if (rel === null) return this.notFound();
        const files = repoFiles(r);
        const bytes = rel === "" ? undefined : files.get(rel);
        if (bytes) return this.fileReply(r, rel, bytes, origin, raw);
        const dir = this.dirListing(r, files, rel, origin);
        return dir ? this.json(200, dir) : this.notFound();
      }
      default:
        return this.notFound();
    }
  }

  private userObject(o: OwnerState, origin: string): Json {
    const login = o.login;
    return {
      login,
      id: numericId(`user:${login}`),
      node_id: `U_${sha1Hex(login).slice(0, 16)}`,
      avatar_url: `https://avatars.githubusercontent.com/u/${numericId(`user:${login}`)}?v=4`,
      url: `${origin}/users/${login}`,
      html_url: `https://github.com/${login}`,
      repos_url: `${origin}/users/${login}/repos`,
      type: "User",
      site_admin: false,
      name: null,
      company: null,
      blog: "",
      location: null,
      bio: null,
      public_repos: o.repos.size,
      followers: 0,
      following: 0,
    };
  }

  private list(ownerName: string, query: URLSearchParams, origin: string, path: string): Reply {
    const o = this.owner(ownerName);
    if (!o) return this.notFound();
    const perPageRaw = parseInt(query.get("per_page") ?? "30", 10);
    const perPage = Math.min(100, Math.max(1, Number.isFinite(perPageRaw) ? perPageRaw : 30));
    const pageRaw = parseInt(query.get("page") ?? "1", 10);
    const page = Math.max(1, Number.isFinite(pageRaw) ? pageRaw : 1);
    const sort = query.get("sort") ?? "full_name";
    const field = sort === "created"
      ? "created_at"
      : sort === "updated"
      ? "updated_at"
      : sort === "pushed"
      ? "pushed_at"
      : "full_name";
    const dirParam = query.get("direction");
    const desc = dirParam ? dirParam === "desc" : field !== "full_name";
    const byName = (a: RepoState, b: RepoState) => {
      const x = String(a.meta.full_name).toLowerCase(), y = String(b.meta.full_name).toLowerCase();
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const all = [...o.repos.values()].sort((a, b) => {
      if (field === "full_name") return desc ? -byName(a, b) : byName(a, b);
      const x = String(a.meta[field] ?? ""), y = String(b.meta[field] ?? "");
      const c = x < y ? -1 : x > y ? 1 : 0;
      return (desc ? -c : c) || byName(a, b);
    });
    const lastPage = Math.max(1, Math.ceil(all.length / perPage));
    const items = all.slice((page - 1) * perPage, page * perPage).map((r) => withDefaults(r.meta));
    const link = (p: number) => {
      const q = new URLSearchParams(query);
      q.set("per_page", String(perPage));
      q.set("page", String(p));
      return `<${origin}${path}?${q.toString()}>`;
    };
    const links: string[] = [];
    if (page > 1) links.push(`${link(Math.min(page - 1, lastPage))}; rel="prev"`);
    if (page < lastPage) links.push(`${link(page + 1)}; rel="next"`, `${link(lastPage)}; rel="last"`);
    if (page > 1) links.push(`${link(1)}; rel="first"`);
    return this.json(200, items, links.length ? { link: links.join(", ") } : undefined);
  }

  private fileEntry(r: RepoState, rel: string, bytes: Uint8Array, origin: string): Json {
    const full = String(r.meta.full_name);
    const branch = String(r.meta.default_branch ?? "main");
    const sha = gitBlobSha(bytes);
    const url = `${origin}/repos/${full}/contents/${rel.split("/").map(encodeURIComponent).join("/")}?ref=${branch}`;
    const htmlUrl = `https://github.com/${full}/blob/${branch}/${rel}`;
    const gitUrl = `${origin}/repos/${full}/git/blobs/${sha}`;
    return {
      type: "file",
      size: bytes.byteLength,
      name: rel.split("/").pop(),
      path: rel,
      sha,
      url,
      git_url: gitUrl,
      html_url: htmlUrl,
      download_url: `https://raw.githubusercontent.com/${full}/${branch}/${rel}`,
      _links: { self: url, git: gitUrl, html: htmlUrl },
    };
  }

  private fileReply(r: RepoState, rel: string, bytes: Uint8Array, origin: string, raw: boolean): Reply {
    if (raw) return { status: 200, body: bytes, contentType: "application/vnd.github.raw; charset=utf-8" };
    const e = this.fileEntry(r, rel, bytes, origin);
    return this.json(200, {
      type: e.type,
      encoding: "base64",
      size: e.size,
      name: e.name,
      path: e.path,
      content: githubBase64(bytes),
      sha: e.sha,
      url: e.url,
      git_url: e.git_url,
      html_url: e.html_url,
      download_url: e.download_url,
      _links: e._links,
    });
  }

  private dirListing(r: RepoState, files: Map<string, Uint8Array>, rel: string, origin: string): Json[] | null {
    const prefix = rel === "" ? "" : rel + "/";
    const seenDirs = new Set<string>();
    const out: Json[] = [];
    for (const [p, bytes] of files) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const slash = rest.indexOf("/");
      if (slash < 0) {
        const { content: _c, encoding: _e, ...entry } = this.fileEntry(r, p, bytes, origin);
        out.push(entry);
      } else {
        const d = prefix + rest.slice(0, slash);
        if (seenDirs.has(d)) continue;
        seenDirs.add(d);
        const full = String(r.meta.full_name);
        out.push({
          type: "dir",
          size: 0,
          name: rest.slice(0, slash),
          path: d,
          sha: sha1Hex(`tree:${full}:${d}`),
          url: `${origin}/repos/${full}/contents/${d}`,
          html_url: `https://github.com/${full}/tree/${r.meta.default_branch}/${d}`,
          download_url: null,
        });
      }
    }
    if (out.length === 0 && rel !== "") return null;
    out.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    return out;
  }

  // --- GraphQL ------------------------------------------------------------

  /** The fixture state as the GraphQL resolvers read it (live: pushes and new repos show at once). */
  private graphqlData(): FixtureData {
    const view = (r: RepoState): FixtureRepo => ({
      meta: withDefaults(r.meta),
      files: () => repoFiles(r),
      pastFiles: () => r.past ?? [],
      languages: () => {
        repoFiles(r);
        return r.languages ?? {};
      },
    });
    return {
      owner: (login) => {
        const o = this.owner(login);
        return o ? { login: o.login, repos: [...o.repos.values()].map(view) } : undefined;
      },
      repo: (owner, name) => {
        const r = this.repo(owner, name);
        return r ? view(r) : undefined;
      },
    };
  }

  /** `POST /graphql`: GitHub needs a token; errors come as HTTP 200 with `errors`, as GitHub sends them. */
  async graphql(body: Json | null, token: string): Promise<Reply> {
    const s = this.stats;
    if (!this.graphqlEnabled) return this.notFound();
    if (!token) {
      s.unauthorized++;
      return this.json(401, {
        message: "This endpoint requires you to be authenticated.",
        documentation_url:
          "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql",
      });
    }
    if (!body) return this.json(400, { message: "Problems parsing JSON", documentation_url: DOCS });
    const rate = this.rateState(token, "graphql");
    const out = await runFixtureGraphql(this.graphqlData(), body, {
      remaining: rate.remaining,
      limit: rate.limit,
      resetAt: new Date(rate.reset * 1000).toISOString().replace(".000Z", "Z"),
    }, gitBlobSha);
    if (out.rateLimited) this.refused(token, "graphql");
    else s.served++;
    if (out.listed) this.listingAnswered();
    if (out.cost) this.spend(token, "graphql", out.cost);
    s.graphql_points += out.cost;
    s.graphql_blobs += out.blobs;
    if (out.body.errors) s.graphql_errors++;
    else s.ok++;
    return this.json(200, out.body);
  }

  // --- control --------------------------------------------------------------

  private invalidate() {
    this.cache.clear();
  }

  /** A listing was answered: the changes queued for this moment happen now (once). */
  private listingAnswered() {
    for (const a of this.afterListing.splice(0)) {
      try {
        this.control(a.action, "POST", a.body);
      } catch { /* a change that no longer applies (its repo gone meanwhile) is dropped */ }
    }
  }

  /** New pushed_at/updated_at: `at` (when a test names the time), else now, and always later than before. */
  private bump(r: RepoState, at?: unknown) {
    const prev = Math.max(
      Date.parse(String(r.meta.pushed_at ?? "")) || 0,
      Date.parse(String(r.meta.updated_at ?? "")) || 0,
    );
    const named = typeof at === "string" ? Date.parse(at) : NaN;
    const now = Number.isFinite(named) ? named : Math.floor(Date.now() / 1000) * 1000;
    const next = isoSeconds(Math.max(now, prev + 1000));
    r.meta.pushed_at = next;
    r.meta.updated_at = next;
  }

  private applyFiles(r: RepoState, files: unknown) {
    if (!files || typeof files !== "object") return;
    const map = repoFiles(r);
    for (const [p, content] of Object.entries(files as Json)) {
      const rel = safeRelPath(p);
      if (!rel) throw new Error(`bad path: ${p}`);
      const old = map.get(rel);
      if (old) (r.past ??= []).push(old);
      if (content === null) map.delete(rel);
      else map.set(rel, enc.encode(String(content)));
    }
  }

  private setReadme(r: RepoState, readme: unknown) {
    if (readme === undefined) return;
    const files = repoFiles(r);
    const name = readmeName(files) ?? "README.md";
    const old = files.get(name);
    if (old) (r.past ??= []).push(old);
    if (readme === null) files.delete(name);
    else files.set(name, enc.encode(String(readme)));
  }

  private requireRepo(body: Json): RepoState {
    const r = this.repo(String(body.owner ?? ""), String(body.repo ?? ""));
    if (!r) throw Object.assign(new Error(`unknown repo ${body.owner}/${body.repo}`), { status: 404 });
    return r;
  }

  control(name: string, method: string, body: Json): Reply {
    if (name === "stats" && method === "GET") {
      return this.json(200, {
        ...this.stats,
        rate: this.rateState(),
        graphql_rate: this.rateState(this.lastToken, "graphql"),
        tokens: this.tokenStats,
        config: this.config(),
      });
    }
    if (method !== "POST") return this.notFound();
    switch (name) {
      case "reset-stats":
        this.stats = { ...freshStats(), in_flight: this.stats.in_flight };
        this.tokenStats = {};
        this.refusals.clear();
        return this.json(200, { ok: true });
      case "reset":
        this.owners = loadOwners(this.fixturesDir);
        this.stats = { ...freshStats(), in_flight: this.stats.in_flight };
        this.buckets.clear();
        this.refusals.clear();
        this.tokenStats = {};
        this.badTokens.clear();
        this.graphqlEnabled = true;
        this.afterListing = [];
        this.rand = rng(this.seed);
        this.hangRand = rng(this.seed + 0x9e3779b9);
        this.invalidate();
        return this.json(200, { ok: true });
      case "config": {
        if (body.latency_ms !== undefined) this.latencyMs = Number(body.latency_ms);
        if (body.fail_rate !== undefined) this.failRate = Number(body.fail_rate);
        if (body.hang_rate !== undefined) this.hangRate = Math.min(1, Math.max(0, Number(body.hang_rate) || 0));
        if (body.hang_ms !== undefined) this.hangMs = Math.max(0, Number(body.hang_ms) || 0);
        if (body.seed !== undefined) {
          this.seed = Number(body.seed);
          this.rand = rng(this.seed);
          this.hangRand = rng(this.seed + 0x9e3779b9);
        }
        if (body.rate_limit !== undefined) this.rateLimit = Number(body.rate_limit ?? DEFAULT_RATE_LIMIT);
        if (body.rate_window_s !== undefined) this.rateWindowS = Number(body.rate_window_s);
        if (body.secondary_limit !== undefined) {
          const sl = (body.secondary_limit ?? {}) as Json;
          this.secondary = {
            count: Math.max(0, Number(sl.count ?? 0) || 0),
            retryAfterS: sl.retry_after === undefined || sl.retry_after === null ? null : Number(sl.retry_after),
          };
        }
        if (body.rate_limit !== undefined || body.rate_window_s !== undefined) this.buckets.clear();
        if (Array.isArray(body.bad_tokens)) this.badTokens = new Set(body.bad_tokens.map(String));
        if (body.graphql !== undefined) this.graphqlEnabled = body.graphql !== false;
        return this.json(200, this.config());
      }
      case "after-listing": {
        // {action: "push" | "set-file" | "delete-repo" | "add-repo" | "config", ...that action's body}
        const action = String(body.action ?? "");
        if (!AFTER_LISTING_ACTIONS.has(action)) {
          return this.json(422, { message: `action must be one of ${[...AFTER_LISTING_ACTIONS].join(", ")}` });
        }
        if (this.afterListing.length >= 100) return this.json(422, { message: "at most 100 pending changes" });
        if (action !== "add-repo" && action !== "config") this.requireRepo(body);
        this.afterListing.push({ action, body });
        return this.json(200, { pending: this.afterListing.length });
      }
      case "push": {
        const r = this.requireRepo(body);
        this.setReadme(r, body.readme);
        this.applyFiles(r, body.files);
        this.bump(r, body.pushed_at);
        this.invalidate();
        return this.json(200, withDefaults(r.meta));
      }
      case "set-file": {
        const r = this.requireRepo(body);
        this.applyFiles(r, { [String(body.path ?? "")]: body.content ?? null });
        if (body.touch) this.bump(r);
        this.invalidate();
        return this.json(200, { ok: true });
      }
      case "delete-repo": {
        const o = this.owner(String(body.owner ?? ""));
        const key = String(body.repo ?? "").toLowerCase();
        if (!o || !o.repos.has(key)) return this.notFound();
        o.repos.delete(key);
        this.invalidate();
        return this.json(200, { ok: true });
      }
      case "add-repo": {
        const o = this.owner(String(body.owner ?? ""));
        const name = String(body.repo ?? "");
        if (!o || !/^[A-Za-z0-9._-]+$/.test(name)) return this.notFound();
        if (o.repos.has(name.toLowerCase())) {
          return this.json(422, { message: "Repository already exists" });
        }
        const full = `${o.login}/${name}`;
        // `pushed_at` names the creation time (a test creating the same repo on two servers), else now.
        const named = typeof body.pushed_at === "string" ? Date.parse(body.pushed_at) : NaN;
        const now = isoSeconds(Number.isFinite(named) ? named : Date.now());
        const r: RepoState = {
          meta: {
            name,
            full_name: full,
            owner: { login: o.login, html_url: `https://github.com/${o.login}`, type: "User" },
            private: false,
            html_url: `https://github.com/${full}`,
            description: body.description ?? null,
            fork: false,
            url: `https://api.github.com/repos/${full}`,
            languages_url: `https://api.github.com/repos/${full}/languages`,
            clone_url: `https://github.com/${full}.git`,
            created_at: now,
            updated_at: now,
            pushed_at: now,
            size: 1,
            stargazers_count: 0,
            language: body.language ?? null,
            archived: false,
            topics: Array.isArray(body.topics) ? body.topics : [],
            visibility: "public",
            default_branch: "main",
          },
          dir: "",
          files: new Map(),
          languages: (body.languages as Json | undefined) ?? {},
        };
        o.repos.set(name.toLowerCase(), r);
        this.setReadme(r, body.readme);
        this.applyFiles(r, body.files);
        this.invalidate();
        return this.json(201, withDefaults(r.meta));
      }
    }
    return this.notFound();
  }

  config() {
    return {
      latency_ms: this.latencyMs,
      fail_rate: this.failRate,
      hang_rate: this.hangRate,
      hang_ms: this.hangMs,
      seed: this.seed,
      rate_limit: this.rateLimit,
      rate_window_s: this.rateWindowS,
      secondary_limit: { count: this.secondary.count, retry_after: this.secondary.retryAfterS },
      bad_token_count: this.badTokens.size,
      graphql: this.graphqlEnabled,
    };
  }

  /**
   * GitHub's answer to a request over a secondary rate limit: 403, quota left,
   * maybe `retry-after`. `POST /graphql` gets the same HTTP 403 (not an HTTP
   * 200 with `errors`, which is how GraphQL reports a spent primary quota),
   * pointing at the GraphQL docs.
   */
  secondaryLimitReply(resource: RateResource): Reply {
    const headers: Record<string, string> = {};
    if (this.secondary.retryAfterS !== null) headers["retry-after"] = String(this.secondary.retryAfterS);
    return this.json(403, {
      message:
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
      documentation_url: resource === "graphql"
        ? "https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api#secondary-rate-limits"
        : "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
    }, headers);
  }

  // --- request handling -----------------------------------------------------

  async handle(req: IncomingMessage, res: ServerResponse, selfOrigin: string) {
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : rawUrl.slice(q + 1));
    const method = (req.method ?? "GET").toUpperCase();

    if (path.startsWith("/_fixture/")) {
      let reply: Reply;
      try {
        const body = method === "POST" ? await readBody(req) : {};
        reply = this.control(path.slice("/_fixture/".length), method, body);
      } catch (err) {
        const status = (err as { status?: number }).status ?? 400;
        reply = this.json(status, { message: String((err as Error).message ?? err) });
      }
      return this.send(res, reply, {}, method);
    }

    const s = this.stats;
    s.total++;
    s.in_flight++;
    if (s.in_flight > s.max_in_flight) s.max_in_flight = s.in_flight;
    try {
      const isGraphql = path === "/graphql" && method === "POST";
      let gqlBody: Json | null = null;
      if (isGraphql) gqlBody = await readBody(req).catch(() => null);
      else req.resume(); // drain any body
      const kind = isGraphql ? "graphql" : this.classify(path);
      s[kind]++;
      const token = tokenOf(typeof req.headers.authorization === "string" ? req.headers.authorization : undefined);
      this.lastToken = token;
      const resource: RateResource = isGraphql ? "graphql" : "core";
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (this.hangRate > 0 && this.hangRand() < this.hangRate) {
        s.hung++;
        await hangUntil(res, this.hangMs);
        if (res.destroyed || res.writableEnded) return; // the client gave up (or the server closed)
      }
      if (this.secondary.count > 0) {
        this.secondary.count--;
        s.secondary_limited++;
        return this.send(res, this.secondaryLimitReply(resource), this.rateHeaders(token, resource), method);
      }
      if (this.failRate > 0 && this.rand() < this.failRate) {
        s.failed_injected++;
        return this.send(res, this.json(502, { message: "Server Error" }), this.rateHeaders(token, resource), method);
      }
      if (token && this.badTokens.has(token)) {
        s.unauthorized++;
        return this.send(
          res,
          this.json(401, { message: "Bad credentials", documentation_url: DOCS, status: "401" }),
          {},
          method,
        );
      }
      if (isGraphql) {
        return this.send(res, await this.graphql(gqlBody, token), this.rateHeaders(token, "graphql"), method);
      }
      if (method !== "GET" && method !== "HEAD") {
        return this.send(res, this.notFound(), this.rateHeaders(), method);
      }
      const accept = String(req.headers["accept"] ?? "");
      const raw = /application\/vnd\.github(\.v3)?\.raw/.test(accept) && (kind === "readme" || kind === "contents");
      const host = typeof req.headers.host === "string" && /^[A-Za-z0-9.:\[\]-]+$/.test(req.headers.host)
        ? `http://${req.headers.host}`
        : selfOrigin;
      const cacheKey = `${host}|${raw ? "raw" : "json"}|${rawUrl}`;
      let reply = kind === "rate_limit" ? undefined : this.cache.get(cacheKey);
      if (!reply) {
        reply = this.route(kind, path, query, host, raw);
        if (reply.status === 200) {
          reply.headers = { ...reply.headers, etag: `"${sha1Hex(reply.body)}"` };
          if (kind !== "rate_limit") this.cache.set(cacheKey, reply);
        }
      }
      if (kind === "list") this.listingAnswered();
      const etag = reply.headers?.etag;
      const inm = req.headers["if-none-match"];
      if (etag && typeof inm === "string" && etagMatches(inm, etag)) {
        s.not_modified++;
        return this.send(
          res,
          { status: 304, body: new Uint8Array(0), headers: { etag } },
          this.rateHeaders(token),
          method,
        );
      }
      if (kind !== "rate_limit") {
        const r = this.rateState(token);
        if (r.remaining <= 0) {
          this.refused(token, "core");
          const ip = req.socket.remoteAddress ?? "127.0.0.1";
          return this.send(
            res,
            this.json(403, {
              message:
                `API rate limit exceeded for ${ip}. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)`,
              documentation_url: RATE_DOCS,
            }),
            this.rateHeaders(token),
            method,
          );
        }
        this.spend(token, "core", 1);
      }
      s.served++;
      if (reply.status >= 200 && reply.status < 300) s.ok++;
      if (reply.status === 404) s.not_found++;
      return this.send(res, reply, this.rateHeaders(token), method);
    } catch (err) {
      return this.send(res, this.json(500, { message: `fixture server error: ${err}` }), {}, method);
    } finally {
      s.in_flight--;
    }
  }

  private send(res: ServerResponse, reply: Reply, extra: Record<string, string>, method: string) {
    const headers: Record<string, string> = {
      ...extra,
      ...reply.headers,
      "x-github-media-type": "github.v3; format=json",
      "access-control-allow-origin": "*",
    };
    if (reply.status !== 304) {
      headers["content-type"] = reply.contentType ?? "application/json; charset=utf-8";
      headers["content-length"] = String(reply.body.byteLength);
    }
    res.writeHead(reply.status, headers);
    if (method === "HEAD" || reply.status === 304) res.end();
    else res.end(reply.body);
  }
}

/** Holds a request: until `ms` pass (0: forever) or its connection closes, whichever comes first. */
function hangUntil(res: ServerResponse, ms: number): Promise<void> {
  return new Promise((done) => {
    const timer = ms > 0 ? setTimeout(finish, ms) : undefined;
    function finish() {
      clearTimeout(timer);
      res.off("close", finish);
      done();
    }
    res.on("close", finish);
  });
}

function etagMatches(header: string, etag: string): boolean {
  const norm = (t: string) => t.trim().replace(/^W\//, "");
  const want = norm(etag);
  return header.split(",").some((t) => norm(t) === "*" || norm(t) === want);
}

// ---------------------------------------------------------------------------
// Public entry points

export async function startFixtureServer(opts: FixtureServerOptions = {}): Promise<RunningFixtureServer> {
  const fixturesDir = resolveFixturesDir(opts.fixturesDir);
  const state = new FixtureServer(fixturesDir, opts);
  const host = opts.host ?? "127.0.0.1";
  let origin = "";
  const server: Server = createServer((req, res) => {
    state.handle(req, res, origin).catch((err) => {
      try {
        res.writeHead(500, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify({ message: `fixture server error: ${err}` }));
      } catch { /* socket gone */ }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  origin = `http://${urlHost}:${port}`;
  return {
    url: origin,
    port,
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        // deno-lint-ignore no-explicit-any -- closeAllConnections is Node's and Bun's, absent from Deno's server type
        (server as any).closeAllConnections?.();
      }),
  };
}

const USAGE = "github-fixture-server.ts [--port N] [--host H] [--fixtures DIR] [--rate-limit N] " +
  "[--rate-window-s S] [--latency-ms N] [--fail-rate F] [--seed S] [--hang-rate F] [--hang-ms N]";

/** The command line (scripts/lib/cli-args.ts): a mistake exits 2 with the usage, `--help` prints it. */
function optionsFromArgs(): FixtureServerOptions {
  const { values: v } = parseScriptArgs({
    port: { type: "string" },
    host: { type: "string" },
    fixtures: { type: "string" },
    "rate-limit": { type: "string" },
    "rate-window-s": { type: "string" },
    "latency-ms": { type: "string" },
    "fail-rate": { type: "string" },
    seed: { type: "string" },
    "hang-rate": { type: "string" },
    "hang-ms": { type: "string" },
  }, USAGE);
  const num = (name: keyof typeof v, min = 0) => {
    const raw = v[name];
    return typeof raw === "string" ? numberFlag(raw, name, 0, min) : undefined;
  };
  return {
    port: num("port"),
    host: v.host,
    fixturesDir: v.fixtures,
    rateLimit: num("rate-limit"),
    rateWindowS: num("rate-window-s"),
    latencyMs: num("latency-ms"),
    failRate: num("fail-rate"),
    seed: num("seed", Number.MIN_SAFE_INTEGER),
    hangRate: num("hang-rate"),
    hangMs: num("hang-ms"),
  };
}

// deno-lint-ignore no-explicit-any -- import.meta.main is Deno's and Bun's, absent from the standard ImportMeta type
if ((import.meta as any).main) {
  // deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
  const proc = (globalThis as any).process;
  const opts = optionsFromArgs();
  const srv = await startFixtureServer(opts);
  console.log(`github-fixture-server listening on ${srv.url}`);
  const stop = () => srv.close().finally(() => proc?.exit?.(0));
  proc?.on?.("SIGTERM", stop);
  proc?.on?.("SIGINT", stop);
}
