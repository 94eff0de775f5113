/**
 * GitHub's GraphQL API over the fixture data, for the fixture server's
 * `POST /graphql`: GitHub's real schema (from `@octokit/graphql-schema`,
 * built with `assumeValidSDL` as graphql-js rejects one duplicate field in it)
 * with resolvers for the subset foliosync uses — `repositoryOwner`/`user`,
 * `repository`, the `repositories` connection (cursors, `pageInfo`),
 * Repository fields, `object(expression:|oid:)` → Blob/Tree, `languages`,
 * `repositoryTopics`, `rateLimit`. Anything outside the subset resolves to
 * null. Errors come back in GitHub's shapes: HTTP 200 with `errors`, each
 * with `type` (`NOT_FOUND`, `RATE_LIMITED`, `EXCESSIVE_PAGINATION`), `path`,
 * `locations` and `message`.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DocumentNode, GraphQLError, GraphQLSchema, SelectionSetNode } from "graphql";

type Json = Record<string, unknown>;

/** What the resolvers read: the fixture server's in-memory state. */
export interface FixtureData {
  owner(login: string): { login: string; repos: Iterable<FixtureRepo> } | undefined;
  repo(owner: string, name: string): FixtureRepo | undefined;
}
export interface FixtureRepo {
  /** The REST repository object (repos.json entry with defaults). */
  meta: Json;
  files(): Map<string, Uint8Array>;
  /** Contents pushes replaced or deleted: gone from the tree, still objects of the repository. */
  pastFiles?(): Iterable<Uint8Array>;
  languages(): Json;
}

export interface GraphqlOutcome {
  body: Json;
  /** Points this query cost (0 when it was not run). */
  cost: number;
  rateLimited: boolean;
  /** Blob texts served (file fetches). */
  blobs: number;
  /** The query listed an owner's repositories (a listing, as opposed to a file fetch). */
  listed: boolean;
}

/** A resolver error that GitHub reports with a `type`. */
class TypedError extends Error {
  constructor(readonly type: string, message: string) {
    super(message);
  }
}

/** Git ids of file contents already hashed (contents are replaced, never mutated, on a push). */
const shaMemo = new WeakMap<Uint8Array, string>();
/** File contents already decoded to text (same rule). */
const textMemo = new WeakMap<Uint8Array, string>();

/**
 * Queries already parsed and validated against the schema, by their text (a
 * client sends the same few queries again and again; validating one against
 * GitHub's schema takes milliseconds). Oldest out first past the bound.
 */
const validDocs = new Map<string, DocumentNode>();
const MAX_VALID_DOCS = 200;

let built: { graphql: typeof import("graphql"); schema: GraphQLSchema } | null = null;

/** GitHub's schema, built once on first use (about a second). */
export async function githubSchema(): Promise<{ graphql: typeof import("graphql"); schema: GraphQLSchema }> {
  if (built) return built;
  const graphql = await import("graphql");
  // The package exports only its JS entry (for import); the SDL file sits beside it.
  const sdlPath = join(dirname(fileURLToPath(import.meta.resolve("@octokit/graphql-schema"))), "schema.graphql");
  const schema = graphql.buildSchema(readFileSync(sdlPath, "utf8"), { assumeValidSDL: true });
  built = { graphql, schema };
  return built;
}

const dec = new TextDecoder("utf-8", { ignoreBOM: true });

/** Git's own test for binary content: a NUL byte in the first 8,000 bytes. */
export function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.byteLength, 8000);
  for (let i = 0; i < n; i++) if (bytes[i] === 0) return true;
  return false;
}

function toBase64(s: string): string {
  return Buffer.from(s, "utf8").toString("base64");
}
function fromBase64(s: string): string {
  return Buffer.from(s, "base64").toString("utf8");
}

/**
 * GitHub's cost: the requests each connection needs (its parent count), summed,
 * divided by 100, at least 1.
 */
export function queryCost(doc: DocumentNode, variables: Json): number {
  let requests = 0;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  const walk = (set: SelectionSetNode | undefined, parents: number) => {
    if (!set) return;
    for (const sel of set.selections) {
      if (sel.kind === "Field") {
        const first = sel.arguments?.find((a) => a.name.value === "first" || a.name.value === "last");
        if (first) {
          const v = first.value;
          const n = v.kind === "IntValue" ? Number(v.value) : v.kind === "Variable" ? num(variables[v.name.value]) : 0;
          requests += parents;
          walk(sel.selectionSet, parents * Math.max(1, n));
        } else walk(sel.selectionSet, parents);
      } else if (sel.kind === "InlineFragment") walk(sel.selectionSet, parents);
    }
  };
  for (const def of doc.definitions) if (def.kind === "OperationDefinition") walk(def.selectionSet, 1);
  return Math.max(1, Math.round(requests / 100));
}

interface Ctx {
  data: FixtureData;
  cost: number;
  remaining: number;
  resetAt: string;
  limit: number;
  blobs: number;
  listed: boolean;
}

/** A blob's global node id: which repository and which object (GitHub's ids are opaque too). */
function blobId(repo: FixtureRepo, oid: string): string {
  return toBase64(`Blob:${repo.meta.full_name}:${oid}`);
}

/** A Blob node over one file's bytes. */
function blobNode(ctx: Ctx, repo: FixtureRepo, oid: string, bytes: Uint8Array): Json {
  const binary = looksBinary(bytes);
  return {
    __typename: "Blob",
    id: blobId(repo, oid),
    oid,
    abbreviatedOid: oid.slice(0, 7),
    byteSize: bytes.byteLength,
    isBinary: binary,
    isTruncated: false,
    text: () => {
      ctx.blobs++;
      if (binary) return null;
      let text = textMemo.get(bytes);
      if (text === undefined) textMemo.set(bytes, text = dec.decode(bytes));
      return text;
    },
  };
}

function treeNode(ctx: Ctx, repo: FixtureRepo, dir: string, blobSha: (b: Uint8Array) => string): Json {
  const files = repo.files();
  const prefix = dir ? dir + "/" : "";
  const entries: Json[] = [];
  const dirs = new Set<string>();
  for (const [p, bytes] of files) {
    if (!p.startsWith(prefix)) continue;
    const rest = p.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) {
      const oid = blobSha(bytes);
      entries.push({
        name: rest,
        path: p,
        type: "blob",
        mode: 33188,
        oid,
        object: blobNode(ctx, repo, oid, bytes),
      });
    } else {
      const d = rest.slice(0, slash);
      if (dirs.has(d)) continue;
      dirs.add(d);
      const sub = prefix + d;
      const oid = treeOid(repo, sub);
      entries.push({
        name: d,
        path: sub,
        type: "tree",
        mode: 16384,
        oid,
        object: () => treeNode(ctx, repo, sub, blobSha),
      });
    }
  }
  entries.sort((a, b) => String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0);
  return { __typename: "Tree", oid: () => treeOid(repo, dir), id: () => `T_${treeOid(repo, dir)}`, entries };
}

function treeOid(repo: FixtureRepo, dir: string): string {
  // A stable stand-in for a tree id: the sha1 of the paths and blob sizes under it.
  const h = createHash("sha1");
  h.update(`${repo.meta.full_name}\u0000${dir}`);
  for (const [p, b] of repo.files()) if (p.startsWith(dir)) h.update(`${p}\u0000${b.byteLength}\u0000`);
  return h.digest("hex");
}

/** A blob of the repository by git object id: in the tree now, or replaced since (history keeps it). */
function blobByOid(repo: FixtureRepo, oid: string, blobSha: (b: Uint8Array) => string): Uint8Array | undefined {
  for (const bytes of repo.files().values()) if (blobSha(bytes) === oid) return bytes;
  for (const bytes of repo.pastFiles?.() ?? []) if (blobSha(bytes) === oid) return bytes;
  return undefined;
}

function repoNode(ctx: Ctx, repo: FixtureRepo, blobSha: (b: Uint8Array) => string): Json {
  const m = repo.meta;
  const license = m.license as Json | null | undefined;
  const topics = Array.isArray(m.topics) ? (m.topics as unknown[]).map(String) : [];
  const lang = typeof m.language === "string" ? m.language : null;
  return {
    __typename: "Repository",
    id: String(m.node_id ?? ""),
    databaseId: m.id,
    name: m.name,
    nameWithOwner: m.full_name,
    description: m.description ?? null,
    url: m.html_url,
    homepageUrl: m.homepage ?? null,
    stargazerCount: m.stargazers_count ?? 0,
    forkCount: m.forks_count ?? 0,
    isFork: m.fork ?? false,
    isArchived: m.archived ?? false,
    isPrivate: m.private ?? false,
    createdAt: m.created_at ?? null,
    updatedAt: m.updated_at ?? null,
    pushedAt: m.pushed_at ?? null,
    diskUsage: m.size ?? null,
    primaryLanguage: lang ? { __typename: "Language", name: lang, id: `L_${lang}` } : null,
    licenseInfo: license
      ? { __typename: "License", spdxId: license.spdx_id ?? null, name: license.name ?? null, key: license.key ?? "" }
      : null,
    defaultBranchRef: { __typename: "Ref", name: m.default_branch ?? "main", prefix: "refs/heads/" },
    repositoryTopics: (args: { first?: number }) => {
      const first = Math.min(100, args.first ?? 100);
      return {
        totalCount: topics.length,
        nodes: topics.slice(0, first).map((t) => ({ topic: { name: t } })),
      };
    },
    languages: (args: { first?: number; orderBy?: { field?: string; direction?: string } }) => {
      const langs = Object.entries(repo.languages()).map(([name, size]) => ({ name, size: Number(size) }));
      if (args.orderBy?.field === "SIZE") {
        const dir = args.orderBy.direction === "ASC" ? 1 : -1;
        langs.sort((a, b) => dir * (a.size - b.size));
      }
      const first = Math.min(100, args.first ?? 100);
      const kept = langs.slice(0, first);
      return {
        totalCount: langs.length,
        totalSize: langs.reduce((n, l) => n + l.size, 0),
        edges: kept.map((l) => ({ size: l.size, node: { __typename: "Language", name: l.name, id: `L_${l.name}` } })),
        nodes: kept.map((l) => ({ __typename: "Language", name: l.name, id: `L_${l.name}` })),
      };
    },
    object: (args: { expression?: string; oid?: string }) => {
      const files = repo.files();
      if (args.oid) {
        const bytes = blobByOid(repo, args.oid, blobSha);
        return bytes ? blobNode(ctx, repo, args.oid, bytes) : null;
      }
      const expr = args.expression ?? "";
      const colon = expr.indexOf(":");
      if (colon < 0) return null;
      const rev = expr.slice(0, colon);
      if (rev !== "HEAD" && rev !== String(m.default_branch ?? "main")) return null;
      const path = expr.slice(colon + 1).replace(/\/+$/, "");
      if (path === "") return treeNode(ctx, repo, "", blobSha);
      const bytes = files.get(path);
      if (bytes) return blobNode(ctx, repo, blobSha(bytes), bytes);
      for (const p of files.keys()) if (p.startsWith(path + "/")) return treeNode(ctx, repo, path, blobSha);
      return null;
    },
  };
}

function ownerNode(
  ctx: Ctx,
  owner: { login: string; repos: Iterable<FixtureRepo> },
  blobSha: (b: Uint8Array) => string,
) {
  return {
    __typename: "User",
    login: owner.login,
    id: `U_${owner.login}`,
    repositories: (
      args: { first?: number; last?: number; after?: string; orderBy?: { field?: string; direction?: string } },
    ) => {
      ctx.listed = true;
      const first = args.first ?? args.last;
      if (first === undefined) {
        throw new TypedError(
          "MISSING_PAGINATION_BOUNDARIES",
          "You must provide a `first` or `last` value to properly paginate the `repositories` connection.",
        );
      }
      if (first > 100) {
        throw new TypedError(
          "EXCESSIVE_PAGINATION",
          `Requesting ${first} records on the \`repositories\` connection exceeds the \`first\` limit of 100 records.`,
        );
      }
      const all = [...owner.repos];
      const field = args.orderBy?.field ?? "NAME";
      const key = (r: FixtureRepo) =>
        field === "PUSHED_AT"
          ? String(r.meta.pushed_at)
          : field === "UPDATED_AT"
          ? String(r.meta.updated_at)
          : field === "CREATED_AT"
          ? String(r.meta.created_at)
          : String(r.meta.name).toLowerCase();
      all.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      if (args.orderBy?.direction === "DESC") all.reverse();
      let start = 0;
      if (args.after) {
        const m = fromBase64(args.after).match(/^cursor:v2:(\d+)$/);
        if (!m) {
          throw new TypedError("INVALID_CURSOR_ARGUMENTS", `\`${args.after}\` does not appear to be a valid cursor.`);
        }
        start = Number(m[1]) + 1;
      }
      const page = all.slice(start, start + first);
      const end = start + page.length - 1;
      return {
        totalCount: all.length,
        pageInfo: {
          hasNextPage: start + page.length < all.length,
          hasPreviousPage: start > 0,
          endCursor: page.length ? toBase64(`cursor:v2:${end}`) : null,
          startCursor: page.length ? toBase64(`cursor:v2:${start}`) : null,
        },
        // Built only when the query asks for them (the default resolver calls a function-valued field).
        nodes: () => page.map((r) => repoNode(ctx, r, blobSha)),
        edges: () =>
          page.map((r, i) => ({ cursor: toBase64(`cursor:v2:${start + i}`), node: repoNode(ctx, r, blobSha) })),
      };
    },
  };
}

/**
 * Runs one GraphQL request. `remaining` is the token's GraphQL quota before
 * this query; a query that costs more is refused as GitHub does (RATE_LIMITED).
 */
export async function runFixtureGraphql(
  data: FixtureData,
  request: { query?: unknown; variables?: unknown },
  quota: { remaining: number; limit: number; resetAt: string },
  gitBlobSha: (b: Uint8Array) => string,
): Promise<GraphqlOutcome> {
  const { graphql, schema } = await githubSchema();
  const blobSha = (b: Uint8Array) => {
    let sha = shaMemo.get(b);
    if (!sha) shaMemo.set(b, sha = gitBlobSha(b));
    return sha;
  };
  if (typeof request.query !== "string" || request.query.length > 100_000) {
    return {
      body: { errors: [{ message: "A query attribute must be specified and must be a string." }] },
      cost: 0,
      rateLimited: false,
      blobs: 0,
      listed: false,
    };
  }
  const variables = request.variables && typeof request.variables === "object" ? request.variables as Json : {};
  let doc = validDocs.get(request.query);
  if (!doc) {
    try {
      doc = graphql.parse(request.query);
    } catch (err) {
      return {
        body: { errors: [shapeError(err as GraphQLError)] },
        cost: 0,
        rateLimited: false,
        blobs: 0,
        listed: false,
      };
    }
    const invalid = graphql.validate(schema, doc);
    if (invalid.length) {
      return { body: { errors: invalid.map(shapeError) }, cost: 0, rateLimited: false, blobs: 0, listed: false };
    }
    if (validDocs.size >= MAX_VALID_DOCS) validDocs.delete(validDocs.keys().next().value!);
    validDocs.set(request.query, doc);
  }
  const cost = queryCost(doc, variables);
  if (cost > quota.remaining) {
    return {
      body: { errors: [{ type: "RATE_LIMITED", message: "API rate limit exceeded for user ID 1." }] },
      cost: 0,
      rateLimited: true,
      blobs: 0,
      listed: false,
    };
  }
  const ctx: Ctx = {
    data,
    cost,
    remaining: quota.remaining - cost,
    resetAt: quota.resetAt,
    limit: quota.limit,
    blobs: 0,
    listed: false,
  };
  const owner = (login: string) => {
    const o = data.owner(login);
    return o ? ownerNode(ctx, o, blobSha) : null;
  };
  const root = {
    repositoryOwner: (a: { login: string }) => owner(a.login),
    user: (a: { login: string }) => {
      const o = owner(a.login);
      if (!o) throw new TypedError("NOT_FOUND", `Could not resolve to a User with the login of '${a.login}'.`);
      return o;
    },
    repository: (a: { owner: string; name: string }) => {
      const r = data.repo(a.owner, a.name);
      if (!r) {
        throw new TypedError("NOT_FOUND", `Could not resolve to a Repository with the name '${a.owner}/${a.name}'.`);
      }
      return repoNode(ctx, r, blobSha);
    },
    nodes: (a: { ids: string[] }) => {
      if (a.ids.length > 100) {
        throw new TypedError(
          "EXCESSIVE_PAGINATION",
          "You may not request more than 100 node IDs; you requested " + a.ids.length + ".",
        );
      }
      // An Error as a list item becomes null there plus an error at its path, as GitHub answers unknown ids:
      // a blob is found while its repository exists (replaced or deleted files too: git keeps them), not after.
      return a.ids.map((id) => {
        const m = fromBase64(id).match(/^Blob:([^/]+)\/([^:]+):([0-9a-f]{40})$/);
        const repo = m ? data.repo(m[1], m[2]) : undefined;
        const bytes = repo ? blobByOid(repo, m![3], blobSha) : undefined;
        if (bytes) return blobNode(ctx, repo!, m![3], bytes);
        return new TypedError("NOT_FOUND", `Could not resolve to a node with the global id of '${id.slice(0, 200)}'`);
      });
    },
    rateLimit: () => ({
      cost: ctx.cost,
      limit: ctx.limit,
      remaining: ctx.remaining,
      used: ctx.limit - ctx.remaining,
      resetAt: ctx.resetAt,
      nodeCount: 0,
    }),
  };
  const result = await graphql.execute({ schema, document: doc, rootValue: root, variableValues: variables });
  const body: Json = {};
  if (result.errors?.length) body.errors = result.errors.map(shapeError);
  body.data = result.data ?? null;
  return { body, cost, rateLimited: false, blobs: ctx.blobs, listed: ctx.listed };
}

/** A graphql-js error in GitHub's shape: `type` (when known), `path`, `locations`, `message`. */
function shapeError(err: GraphQLError): Json {
  const out: Json = {};
  const original = (err as { originalError?: unknown }).originalError;
  if (original instanceof TypedError) out.type = original.type;
  if (err.path) out.path = err.path;
  if (err.locations) out.locations = err.locations;
  out.message = err.message;
  return out;
}
