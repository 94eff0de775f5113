/**
 * foliosync's GitHub GraphQL queries and what their answers become: one
 * query per 100 repositories lists every field the fingerprint and the record
 * need, each repository's root tree entries (name, type, git object id, size)
 * and its languages; file contents are fetched by git object id, many
 * repositories per query. Every query asks for `rateLimit` so the answer feeds
 * the shared quota.
 */
import { Buffer } from "node:buffer";
import { GitHubNotFoundError, NonRetriableError } from "../../shared/errors.ts";
import type { SyncFile } from "../../shared/schemas/job.ts";
import { isRepoName } from "../../shared/schemas/names.ts";
import type { GithubRepo } from "../../shared/schemas/repo.ts";
import { fileText, type GithubClient, type GraphqlError, PER_PAGE, type RequestBudget } from "./github-client.ts";

const RATE_LIMIT = "rateLimit { cost remaining resetAt }";

/** Repositories per listing query (GitHub's `first` limit). */
export const LIST_PAGE = PER_PAGE;

export const LIST_QUERY = `query FoliosyncRepos($login: String!, $after: String) {
  repositoryOwner(login: $login) {
    login
    repositories(first: ${LIST_PAGE}, after: $after, ownerAffiliations: [OWNER], privacy: PUBLIC,
                 orderBy: {field: NAME, direction: ASC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        name nameWithOwner description url homepageUrl
        stargazerCount forkCount isFork isArchived
        createdAt updatedAt pushedAt diskUsage
        primaryLanguage { name }
        licenseInfo { spdxId name }
        repositoryTopics(first: 20) { nodes { topic { name } } }
        defaultBranchRef { name }
        languages(first: 100, orderBy: {field: SIZE, direction: DESC}) { edges { size node { name } } }
        object(expression: "HEAD:") { ... on Tree { entries { name type oid object { ... on Blob { id byteSize isBinary } } } } }
      }
    }
  }
  ${RATE_LIMIT}
}`;

/** Most file contents per query (GitHub's `nodes(ids:)` limit), and most bytes (as the tree listing gave their sizes). */
export const BLOBS_PER_QUERY = 100;
export const BLOB_BYTES_PER_QUERY = 4 * 1_048_576;

/** File contents by their blobs' node ids: one field, however many repositories they come from. */
export const BLOBS_QUERY = `query FoliosyncBlobs($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Blob { id oid byteSize isBinary isTruncated text } }
  ${RATE_LIMIT}
}`;

/** Every query foliosync sends, with sample variables (the schema test validates each against GitHub's schema). */
export function sampleQueries(): { name: string; query: string }[] {
  return [
    { name: "list", query: LIST_QUERY },
    { name: "blobs", query: BLOBS_QUERY },
  ];
}

// ---- answers ----

interface RepoNode {
  name?: unknown;
  nameWithOwner?: unknown;
  description?: unknown;
  url?: unknown;
  homepageUrl?: unknown;
  stargazerCount?: unknown;
  forkCount?: unknown;
  isFork?: unknown;
  isArchived?: unknown;
  createdAt?: unknown;
  updatedAt?: unknown;
  pushedAt?: unknown;
  diskUsage?: unknown;
  primaryLanguage?: { name?: unknown } | null;
  licenseInfo?: { spdxId?: unknown; name?: unknown } | null;
  repositoryTopics?: { nodes?: ({ topic?: { name?: unknown } } | null)[] } | null;
  defaultBranchRef?: { name?: unknown } | null;
  languages?: { edges?: ({ size?: unknown; node?: { name?: unknown } } | null)[] } | null;
  object?: { entries?: ({ name?: unknown; type?: unknown; oid?: unknown; object?: unknown } | null)[] } | null;
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

/** A GraphQL repository node as the REST repository object the rest of the pipeline reads. */
export function toGithubRepo(n: RepoNode): GithubRepo | null {
  const name = str(n.name), full = str(n.nameWithOwner), url = str(n.url);
  if (!name || !full || !url) return null;
  const license = n.licenseInfo ? { spdx_id: str(n.licenseInfo.spdxId), name: str(n.licenseInfo.name) } : null;
  const branch = str(n.defaultBranchRef?.name);
  return {
    name,
    full_name: full,
    description: str(n.description),
    topics: (n.repositoryTopics?.nodes ?? []).map((t) => str(t?.topic?.name)).filter((t): t is string => !!t),
    language: str(n.primaryLanguage?.name),
    html_url: url,
    homepage: str(n.homepageUrl),
    stargazers_count: num(n.stargazerCount),
    forks_count: num(n.forkCount),
    fork: n.isFork === true,
    archived: n.isArchived === true,
    created_at: str(n.createdAt),
    updated_at: str(n.updatedAt),
    pushed_at: str(n.pushedAt),
    ...(branch ? { default_branch: branch } : {}),
    size: num(n.diskUsage),
    license,
  };
}

/** The files a record reads, as found in a repository's root tree. */
export interface RootFiles {
  readme: SyncFile | null;
  repoContext: SyncFile | null;
  skills_index: SyncFile | null;
  architecture: SyncFile | null;
}

/** The README GitHub shows for a root: by its preference among `README*` files. */
export function pickReadme(names: string[]): string | null {
  const byLower = new Map(names.map((p) => [p.toLowerCase(), p]));
  for (const c of ["readme.md", "readme", "readme.markdown", "readme.rst", "readme.txt"]) {
    const hit = byLower.get(c);
    if (hit) return hit;
  }
  return [...names].sort().find((p) => p.toLowerCase().startsWith("readme.")) ?? null;
}

export function rootFiles(n: RepoNode): RootFiles {
  const blobs = new Map<string, SyncFile>();
  for (const e of n.object?.entries ?? []) {
    const name = str(e?.name), oid = str(e?.oid);
    if (!name || !oid || e?.type !== "blob" || !/^[0-9a-f]{40}$/.test(oid)) continue;
    const o = (e.object ?? {}) as { id?: unknown; byteSize?: unknown; isBinary?: unknown };
    const id = str(o.id);
    if (!id || id.length > 200) continue;
    blobs.set(name, {
      name: name.slice(0, 255),
      id,
      oid,
      byteSize: Math.max(0, Math.floor(num(o.byteSize))),
      isBinary: o.isBinary === true,
    });
  }
  const readme = pickReadme([...blobs.keys()]);
  return {
    readme: readme ? blobs.get(readme)! : null,
    repoContext: blobs.get(".repo-context.json") ?? null,
    skills_index: blobs.get("SKILLS-INDEX.md") ?? null,
    architecture: blobs.get("ARCHITECTURE.md") ?? null,
  };
}

export function languagesOf(n: RepoNode): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of n.languages?.edges ?? []) {
    const name = str(e?.node?.name);
    if (name) out[name] = num(e?.size);
  }
  return out;
}

/** GraphQL could not serve this (not a user fault): the caller uses REST instead. */
export class GraphqlUnusable extends Error {
  override name = "GraphqlUnusable";
}

const describe = (errors: GraphqlError[]) =>
  errors.slice(0, 3).map((e) => `${e.type ?? "error"}: ${e.message ?? "?"}`).join("; ").slice(0, 300);

export interface GraphqlListing {
  repos: GithubRepo[];
  files: Map<string, { files: RootFiles; languages: Record<string, number> }>;
  complete: boolean;
  pages: number;
}

/**
 * Every repository of `login`, 100 per query, followed by cursor to the end
 * (or to `maxRepos`). `onPage` hears each page's new repositories (within
 * `maxRepos`, none twice) as it is answered, before the next is asked for,
 * and whether it is the last page the listing takes.
 */
export async function listReposGraphql(
  github: GithubClient,
  login: string,
  opts: {
    maxRepos: number;
    budget?: RequestBudget;
    onPage?: (repos: GithubRepo[], files: GraphqlListing["files"], last: boolean) => void;
  },
): Promise<GraphqlListing> {
  const seen = new Set<string>();
  const repos: GithubRepo[] = [];
  const files = new Map<string, { files: RootFiles; languages: Record<string, number> }>();
  let after: string | null = null;
  let pages = 0;
  let complete = false;
  while (repos.length < opts.maxRepos) {
    let answer;
    try {
      answer = await github.graphql<{
        repositoryOwner: {
          repositories?: { pageInfo?: { hasNextPage?: unknown; endCursor?: unknown }; nodes?: (RepoNode | null)[] };
        } | null;
      }>(LIST_QUERY, { login, after }, { what: `the repositories of ${login}`, budget: opts.budget });
    } catch (err) {
      if (err instanceof NonRetriableError && /GraphQL 4\d\d/.test(err.message)) throw new GraphqlUnusable(err.message);
      throw err;
    }
    pages++;
    const owner = answer.data?.repositoryOwner;
    if (answer.errors.some((e) => e.type === "NOT_FOUND") || (answer.data && owner === null && !answer.errors.length)) {
      throw new GitHubNotFoundError(`GitHub user ${login} not found`);
    }
    if (answer.errors.length || !owner?.repositories) {
      throw new GraphqlUnusable(`listing ${login} over GraphQL failed: ${describe(answer.errors) || "no data"}`);
    }
    const first = repos.length;
    for (const n of owner.repositories.nodes ?? []) {
      if (!n) continue;
      const r = toGithubRepo(n);
      if (!r || !isRepoName(r.name)) continue;
      const key = r.name.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      repos.push(r);
      files.set(key, { files: rootFiles(n), languages: languagesOf(n) });
    }
    const info = owner.repositories.pageInfo;
    const cursor = str(info?.endCursor);
    const end = info?.hasNextPage !== true || !cursor;
    opts.onPage?.(repos.slice(first, Math.max(first, opts.maxRepos)), files, end || repos.length >= opts.maxRepos);
    if (end) {
      complete = true;
      break;
    }
    after = cursor;
  }
  if (repos.length > opts.maxRepos) repos.length = opts.maxRepos;
  return { repos, files, complete, pages };
}

/** A file's content as fetched by id: its text (cut to the size limit) and whether it was cut. */
export interface BlobText {
  text: string;
  truncated: boolean;
}

/**
 * A blob's text as fileText gives it (cut to `maxBytes` at a character
 * boundary; truncated when cut, or shorter than GitHub's `byteSize`, or
 * `isTruncated`), without encoding and decoding a text that cannot need a cut
 * (at most 3 UTF-8 bytes per UTF-16 unit) and has no lone surrogate.
 */
function blobText(text: string, maxBytes: number, byteSize: number, isTruncated: boolean, enc: TextEncoder): BlobText {
  if (text.length * 3 <= maxBytes && text.isWellFormed()) {
    return { text, truncated: isTruncated || byteSize > Buffer.byteLength(text, "utf8") };
  }
  const cut = fileText(enc.encode(text), maxBytes, byteSize);
  return { text: cut.text, truncated: cut.truncated || isTruncated };
}

/**
 * The contents of `files` (by their blobs' node ids), in as few `nodes(ids:)`
 * queries as BLOBS_PER_QUERY / BLOB_BYTES_PER_QUERY allow, run in parallel;
 * each text cut to `maxBytes`. A blob that is gone meanwhile (NOT_FOUND: its
 * repository deleted) has no entry.
 */
export async function fetchBlobs(
  github: GithubClient,
  files: SyncFile[],
  opts: {
    maxBytes: number;
    budget?: RequestBudget;
    what: string;
    /** Called with each query's contents as its answer arrives (the batches answer one by one). */
    onBatch?: (blobs: Map<string, BlobText>) => void;
  },
): Promise<Map<string, BlobText>> {
  const unique = [...new Map(files.map((f) => [f.oid, f])).values()];
  const batches: SyncFile[][] = [];
  let cur: SyncFile[] = [];
  let bytes = 0;
  for (const f of unique) {
    const b = Math.min(f.byteSize, opts.maxBytes);
    if (cur.length && (cur.length >= BLOBS_PER_QUERY || bytes + b > BLOB_BYTES_PER_QUERY)) {
      batches.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += b;
  }
  if (cur.length) batches.push(cur);

  const out = new Map<string, BlobText>();
  const enc = new TextEncoder();
  await Promise.all(batches.map(async (batch) => {
    let answer;
    try {
      answer = await github.graphql<{ nodes?: unknown[] }>(BLOBS_QUERY, { ids: batch.map((f) => f.id) }, {
        what: opts.what,
        budget: opts.budget,
      });
    } catch (err) {
      if (err instanceof NonRetriableError && /GraphQL 4\d\d/.test(err.message)) throw new GraphqlUnusable(err.message);
      throw err;
    }
    const unexpected = answer.errors.filter((e) => e.type !== "NOT_FOUND");
    if (unexpected.length) throw new GraphqlUnusable(`file contents over GraphQL failed: ${describe(unexpected)}`);
    const wanted = new Set(batch.map((f) => f.oid));
    const got = new Map<string, BlobText>();
    for (const node of answer.data?.nodes ?? []) {
      const blob = node as
        | { oid?: unknown; text?: unknown; byteSize?: unknown; isTruncated?: unknown; isBinary?: unknown }
        | null;
      const oid = str(blob?.oid);
      if (!blob || !oid || !wanted.has(oid)) continue;
      if (blob.isBinary === true || typeof blob.text !== "string") {
        got.set(oid, { text: "", truncated: false });
        continue;
      }
      got.set(oid, blobText(blob.text, opts.maxBytes, num(blob.byteSize), blob.isTruncated === true, enc));
    }
    for (const [oid, b] of got) out.set(oid, b);
    if (got.size) opts.onBatch?.(got);
  }));
  return out;
}
