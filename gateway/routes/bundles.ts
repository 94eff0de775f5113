/**
 * GET /api/bundles/{u}          → 200 {username, fingerprint, last_modified, data:[records]}
 *                                  ETag "<fingerprint>", Last-Modified; 304 on If-None-Match
 *                                  (or If-Modified-Since); 404 before the first bundle.
 * GET /api/bundles/{u}/{repo}   → one record of the current bundle; 404.
 * GET /api/bundles/{u}/repos/{repo}  the same, for repos named "status" or "events".
 * Reads: public unless READ_ACCESS=key (auth.ts: 401/403).
 *
 * Only the small `current.json` pointer is read (and cached ≤ 1 s, see
 * pointer-cache.ts). Bundles are
 * immutable (one object per fingerprint), so the serialized answer of a
 * bundle is cached in memory by its storage key (bounded LRU): a 304 costs
 * one pointer read, a 200 one pointer read plus, on a cache miss, one bundle
 * read.
 */
import type { AppContext, RouteApp } from "../context.ts";
import { Bundle, type BundlePointer } from "../../shared/schemas/bundle.ts";
import type { BundleResponse } from "../../shared/schemas/api.ts";
import type { RepoRecord } from "../../shared/schemas/repo.ts";
import { HttpError, requireRepoName, requireUsername } from "../http.ts";

interface CachedBundle {
  /**
   * The 200 answer, serialized once. Kept as a string: Deno.serve sends a
   * string body on its fast path, measurably cheaper than a Uint8Array body.
   */
  body: string;
  repos: Map<string, RepoRecord>;
  reposLower: Map<string, RepoRecord>;
  size: number;
}

/** Bounded LRU by total bytes of serialized bodies. */
class BundleCache {
  private map = new Map<string, CachedBundle>();
  private bytes = 0;
  constructor(private maxBytes = 64 * 1024 * 1024) {}
  get(key: string): CachedBundle | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: CachedBundle) {
    if (v.size > this.maxBytes) return;
    this.map.set(key, v);
    this.bytes += v.size;
    for (const [k, old] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= old.size;
    }
  }
}

const dec = new TextDecoder();

export function etagOf(pointer: BundlePointer): string {
  return `"${pointer.fingerprint.replace(/[^A-Za-z0-9._-]/g, "")}"`;
}

/** Does an If-None-Match header match the etag (weak comparison, lists, `*`)? */
export function etagMatches(header: string, etag: string): boolean {
  if (header === etag) return true; // the usual revalidation: the one etag sent back as-is
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((t) => {
    const s = t.trim();
    return s === "*" || s.replace(/^W\//, "") === bare;
  });
}

export function bundleRoutes(app: RouteApp, ctx: AppContext) {
  const cache = new BundleCache();

  async function pointerOf(username: string) {
    const p = await ctx.pointers.get(username);
    if (!p) {
      throw new HttpError(
        404,
        "bundle_not_found",
        `no bundle for ${username} yet: POST /api/bundles/${username}/refresh`,
      );
    }
    return p;
  }

  async function load(username: string, pointer: BundlePointer): Promise<CachedBundle> {
    const hit = cache.get(pointer.key);
    if (hit) return hit;
    const obj = await ctx.store.get(pointer.key);
    if (!obj) throw new HttpError(404, "bundle_not_found", `no bundle for ${username} yet`);
    const bundle = Bundle.parse(JSON.parse(dec.decode(obj.data)));
    const out: BundleResponse = {
      username: bundle.username,
      fingerprint: bundle.fingerprint,
      last_modified: bundle.generated_at,
      data: bundle.repos,
    };
    const body = JSON.stringify(out);
    const repos = new Map(bundle.repos.map((r) => [r.name, r]));
    const reposLower = new Map(bundle.repos.map((r) => [r.name.toLowerCase(), r]));
    const entry = { body, repos, reposLower, size: body.length * 2 };
    cache.set(pointer.key, entry);
    return entry;
  }

  function httpDate(t: number): string | null {
    return Number.isFinite(t) ? new Date(t).toUTCString() : null;
  }

  /**
   * What a pointer's answers need (etag, Last-Modified, the headers), derived
   * once per pointer object: the pointer cache hands out the same object for
   * up to pointerCacheMs, so revalidations do not re-derive them.
   */
  interface Validators {
    etag: string;
    mod: number;
    headers: Record<string, string>;
    headers200: Record<string, string>;
  }
  const validators = new WeakMap<BundlePointer, Validators>();
  function validatorsOf(pointer: BundlePointer): Validators {
    let v = validators.get(pointer);
    if (!v) {
      const etag = etagOf(pointer);
      const mod = Date.parse(pointer.generated_at);
      const lastModified = httpDate(mod);
      const headers: Record<string, string> = { etag, "cache-control": "no-cache" };
      if (lastModified) headers["last-modified"] = lastModified;
      v = { etag, mod, headers, headers200: { ...headers, "content-type": "application/json; charset=utf-8" } };
      validators.set(pointer, v);
    }
    return v;
  }

  app.handle("bundle", async (c) => {
    const username = requireUsername(c.req.param("username"));
    ctx.auth.client(c, username);
    const pointer = await pointerOf(username);
    const { etag, mod, headers, headers200 } = validatorsOf(pointer);
    const inm = c.req.header("if-none-match");
    if (inm !== undefined) {
      if (etagMatches(inm, etag)) return new Response(null, { status: 304, headers });
    } else {
      const ims = c.req.header("if-modified-since");
      const since = ims ? Date.parse(ims) : NaN;
      // HTTP dates have whole seconds.
      if (Number.isFinite(since) && Number.isFinite(mod) && Math.floor(mod / 1000) * 1000 <= since) {
        return new Response(null, { status: 304, headers });
      }
    }
    const entry = await load(username, pointer);
    return new Response(entry.body, { status: 200, headers: headers200 });
  });

  const oneRepo = async (username: string, repo: string) => {
    const pointer = await pointerOf(username);
    const entry = await load(username, pointer);
    const rec = entry.repos.get(repo) ?? entry.reposLower.get(repo.toLowerCase());
    if (!rec) throw new HttpError(404, "repo_not_found", `${username} has no repository ${repo} in the current bundle`);
    return { rec, pointer };
  };

  for (const id of ["repoUnderRepos", "repo"] as const) {
    app.handle(id, async (c) => {
      const username = requireUsername(c.req.param("username"));
      const repo = requireRepoName(c.req.param("repo"));
      ctx.auth.client(c, username);
      const { rec, pointer } = await oneRepo(username, repo);
      // A record changes only with the bundle: the bundle's fingerprint is a valid validator for it too.
      const etag = etagOf(pointer);
      const inm = c.req.header("if-none-match");
      if (inm !== undefined && etagMatches(inm, etag)) {
        return new Response(null, { status: 304, headers: { etag, "cache-control": "no-cache" } });
      }
      c.header("etag", etag);
      c.header("cache-control", "no-cache");
      return c.json(rec);
    });
  }
}
