import { hasDocumentation, parseRepoContext } from "../shared/repo-record.ts";
import { getJson, putJson } from "../shared/storage/json.ts";
import { storageKeys } from "../shared/keys.ts";
import { GithubRepo, metadataFromGithub, RepoRecord } from "../shared/schemas/repo.ts";
import type { SyncMessage } from "../shared/schemas/job.ts";
import type { RepoMemory } from "../shared/jobs/job-store.ts";
import type { WorkerContext } from "./context.ts";
import type { Conditional, RepoFile } from "./github/github-client.ts";
import { RefreshBudget } from "./github/budget.ts";
import { blobKey, decodeBlob, oidField } from "./github/blob-cache.ts";
import { type BlobText, fetchBlobs, GraphqlUnusable } from "./github/graphql.ts";

/** Context files read from each repo's root (404 = absent = ""). */
export const CONTEXT_FILES = {
  repoContext: ".repo-context.json",
  skills_index: "SKILLS-INDEX.md",
  architecture: "ARCHITECTURE.md",
} as const;

/** How a cut file is named in a record's `truncated_files`. */
export const TRUNCATION_LABELS = {
  readme: "README",
  repoContext: CONTEXT_FILES.repoContext,
  skills_index: CONTEXT_FILES.skills_index,
  architecture: CONTEXT_FILES.architecture,
} as const;

/** One file as a record needs it: its text (null when absent) and whether it was cut to MAX_FILE_BYTES. */
export interface FileContent {
  text: string | null;
  truncated: boolean;
}

/**
 * The record for one repository from GitHub's fields and its files. REST and
 * GraphQL syncs both build records here, so the same data gives the same record.
 * `repoContext` is either the file (parsed here) or an already parsed value.
 */
export function buildRecord(
  msg: Pick<SyncMessage, "repo" | "fingerprint">,
  gh: GithubRepo,
  files: {
    readme: FileContent;
    repoContext: FileContent | { parsed: { value: Record<string, unknown>; error?: string }; truncated: boolean };
    skills_index: FileContent;
    architecture: FileContent;
    languages: Record<string, number>;
  },
  maxFileBytes: number,
): RepoRecord {
  const truncated: string[] = [];
  const text = (f: FileContent, label: string) => {
    if (f.truncated) truncated.push(label);
    return f.text ?? "";
  };
  const readme = text(files.readme, TRUNCATION_LABELS.readme);
  let repoContext: Record<string, unknown>;
  let repoContextError: string | undefined;
  if ("parsed" in files.repoContext) {
    repoContext = files.repoContext.parsed.value;
    repoContextError = files.repoContext.parsed.error;
    if (files.repoContext.truncated) truncated.push(TRUNCATION_LABELS.repoContext);
  } else if (files.repoContext.truncated) {
    truncated.push(TRUNCATION_LABELS.repoContext);
    repoContext = {};
    repoContextError = `.repo-context.json is larger than MAX_FILE_BYTES (${maxFileBytes} bytes)`;
  } else {
    const parsed = parseRepoContext(files.repoContext.text ?? "");
    repoContext = parsed.value;
    repoContextError = parsed.error;
  }
  const skills = text(files.skills_index, TRUNCATION_LABELS.skills_index);
  const architecture = text(files.architecture, TRUNCATION_LABELS.architecture);
  truncated.sort();
  return {
    name: msg.repo,
    full_name: gh.full_name,
    metadata: metadataFromGithub(gh),
    languages: byteOrder(files.languages),
    repoContext,
    ...(repoContextError ? { repoContextError } : {}),
    readme,
    ...(truncated.length ? { truncated_files: truncated } : {}),
    skills_index: skills,
    architecture,
    has_documentation: hasDocumentation(repoContext, readme),
    fingerprint: msg.fingerprint,
    synced_at: new Date().toISOString(),
  };
}

/** Languages largest first (GitHub's order), ties by name: the same object whichever API listed them. */
function byteOrder(langs: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(langs).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** A stored record and what the user's hashes are to remember about it (written as the repo is counted done). */
export interface SyncedRepo {
  record: RepoRecord;
  remember: RepoMemory;
}

/** A sync message's repo: GitHub's fields, its owner, its record's key and a reader of its previous record. */
function repoOf(ctx: WorkerContext, msg: SyncMessage) {
  const gh = GithubRepo.parse(msg.github);
  const owner = gh.full_name.split("/")[0] || msg.username;
  const key = storageKeys.repo(msg.username, msg.repo);
  let read: Promise<RepoRecord | null> | undefined;
  /** The previous record, read from storage once and only when needed (a cold sync over GraphQL never needs it). */
  const loadPrevious = () => read ??= getJson(ctx.store, key, RepoRecord).then((r) => r?.value ?? null, () => null);
  return { gh, owner, key, loadPrevious };
}

/**
 * The sync of a repo listed over GraphQL whose files the caller holds (plan,
 * right after fetching them): the record is built and stored as a sync
 * worker would, without reading the contents back from Redis. null when
 * GraphQL cannot serve it (a file is gone from GitHub since the listing).
 */
export async function syncHeldRepo(ctx: WorkerContext, msg: SyncMessage, held: HeldFiles): Promise<SyncedRepo | null> {
  const { gh, owner, loadPrevious } = repoOf(ctx, msg);
  return await recordFromGraphql(ctx, msg, msg.graphql!, gh, owner, held, loadPrevious);
}

/**
 * sync: fetch one repo's README, context files and languages in parallel,
 * each a conditional request with its stored ETag (304 → keep the previous
 * record's value, no quota spent); write the record. The caller marks the
 * repo done with `remember` (JobStore.markRepoDone), which records its
 * fingerprint and ETags / file ids only after the record is safe.
 */
export async function syncRepo(ctx: WorkerContext, msg: SyncMessage): Promise<SyncedRepo> {
  const { github, redis, jobs } = ctx;
  const user = msg.username;
  const { gh, owner, key, loadPrevious } = repoOf(ctx, msg);
  const etagsKey = jobs.keys.etags(user);

  if (msg.graphql) {
    const synced = await syncFromGraphql(ctx, msg, msg.graphql, gh, owner, loadPrevious);
    if (synced) return synced;
    // GraphQL could not serve it: REST below.
  }
  const previous = await loadPrevious();
  // ETags are only worth sending when there is a previous value to fall back on.
  const f = (name: string) => `${msg.repo}:${name}`;
  const etags = previous
    ? await redis.hmget(etagsKey, f("readme"), f("ctx"), f("skills"), f("arch"), f("lang"))
    : [null, null, null, null, null];
  const e = (i: number) => etags[i] ?? undefined;

  const budget = RefreshBudget.forJob(redis, ctx.cfg.QUEUE_PREFIX, msg.job_id, ctx.cfg.GITHUB_REQUEST_BUDGET);
  const fileOpts = (i: number) => ({ etag: e(i), budget, maxBytes: ctx.cfg.MAX_FILE_BYTES });
  const [readme, ctxFile, skills, arch, langs] = await Promise.all([
    github.getReadme(owner, msg.repo, fileOpts(0)),
    github.getFile(owner, msg.repo, CONTEXT_FILES.repoContext, fileOpts(1)),
    github.getFile(owner, msg.repo, CONTEXT_FILES.skills_index, fileOpts(2)),
    github.getFile(owner, msg.repo, CONTEXT_FILES.architecture, fileOpts(3)),
    github.getLanguages(owner, msg.repo, { etag: e(4), budget }),
  ]);

  /** A file's text and whether it was cut: fresh from GitHub, or (304) as the previous record had it. */
  const file = (r: Conditional<RepoFile> | null, label: string, prev: string | undefined): FileContent =>
    r === null
      ? { text: null, truncated: false }
      : r.modified
      ? { text: r.data!.text, truncated: r.data!.truncated }
      : { text: prev ?? "", truncated: previous?.truncated_files?.includes(label) ?? false };
  const record = buildRecord(msg, gh, {
    readme: file(readme, TRUNCATION_LABELS.readme, previous?.readme),
    repoContext: ctxFile !== null && !ctxFile.modified && previous
      ? {
        parsed: { value: previous.repoContext, error: previous.repoContextError },
        truncated: previous.truncated_files?.includes(TRUNCATION_LABELS.repoContext) ?? false,
      }
      : file(ctxFile, TRUNCATION_LABELS.repoContext, undefined),
    skills_index: file(skills, TRUNCATION_LABELS.skills_index, previous?.skills_index),
    architecture: file(arch, TRUNCATION_LABELS.architecture, previous?.architecture),
    languages: langs === null ? {} : langs.modified ? langs.data ?? {} : previous?.languages ?? {},
  }, ctx.cfg.MAX_FILE_BYTES);
  await putJson(ctx.store, key, record);

  // ETags to remember (and those of files that are gone to forget) once the record is safe.
  const set: string[] = [];
  const del: string[] = [];
  const remember = (name: string, r: Conditional<unknown> | null) => {
    if (r === null) del.push(f(name));
    else if (r.etag) set.push(f(name), r.etag);
  };
  remember("readme", readme);
  remember("ctx", ctxFile);
  remember("skills", skills);
  remember("arch", arch);
  remember("lang", langs);
  // Contents read over REST: the ids GraphQL last saw no longer describe this record.
  del.push(...GRAPHQL_FILES.map((label) => oidField(msg.repo, label)));
  return { record, remember: { fingerprint: msg.fingerprint, set, del } };
}

const GRAPHQL_FILES = ["readme", "repoContext", "skills_index", "architecture"] as const;

/** What a GraphQL sync knows of a repo's files before it builds the record. */
export interface HeldFiles {
  /** The file ids last synced, in GRAPHQL_FILES order (null: none). */
  stored: (string | null)[];
  /** File contents in hand, by git object id. */
  contents: Map<string, BlobText>;
}

/** The file-id fields of the user's hash that say which contents a repo's record holds, in GRAPHQL_FILES order. */
export function storedIdFields(repo: string): string[] {
  return GRAPHQL_FILES.map((l) => oidField(repo, l));
}

/**
 * sync over GraphQL: the listing gave the repo's languages and root files by
 * git object id; a file whose id is the one last synced keeps the previous
 * record's text, any other comes from the contents plan fetched (kept in
 * Redis by id), or — when that is gone — from one query of its own. No
 * request at all for a code-only push. The previous record is read only when
 * a file is kept from it. null when GraphQL cannot serve it.
 */
async function syncFromGraphql(
  ctx: WorkerContext,
  msg: SyncMessage,
  g: NonNullable<SyncMessage["graphql"]>,
  gh: GithubRepo,
  owner: string,
  loadPrevious: () => Promise<RepoRecord | null>,
): Promise<SyncedRepo | null> {
  const { redis, jobs } = ctx;
  const maxBytes = ctx.cfg.MAX_FILE_BYTES;
  const oids = GRAPHQL_FILES.map((l) => g.files[l]?.oid).filter((oid): oid is string => oid !== undefined);
  // The ids last synced and the contents plan fetched, in one round trip.
  const [stored, cachedRaw] = await Promise.all([
    redis.hmget(jobs.keys.etags(msg.username), ...storedIdFields(msg.repo)),
    oids.length
      ? redis.mget(...oids.map((oid) => blobKey(ctx.cfg.QUEUE_PREFIX, maxBytes, oid)))
      : Promise.resolve([] as (string | null)[]),
  ]);
  const contents = new Map<string, BlobText>();
  oids.forEach((oid, i) => {
    const b = cachedRaw[i] ? decodeBlob(cachedRaw[i]!) : null;
    if (b) contents.set(oid, b);
  });
  return await recordFromGraphql(ctx, msg, g, gh, owner, { stored, contents }, loadPrevious);
}

/**
 * A GraphQL sync's record from the files in hand: a file whose id is the one
 * last synced keeps the previous record's text; a file neither in hand nor
 * unchanged is fetched by its id (one query). The record is stored; null when
 * GraphQL cannot serve it.
 */
async function recordFromGraphql(
  ctx: WorkerContext,
  msg: SyncMessage,
  g: NonNullable<SyncMessage["graphql"]>,
  gh: GithubRepo,
  owner: string,
  held: HeldFiles,
  loadPrevious: () => Promise<RepoRecord | null>,
): Promise<SyncedRepo | null> {
  const { redis } = ctx;
  const maxBytes = ctx.cfg.MAX_FILE_BYTES;
  const { stored } = held;
  /** Contents fetched here, beside those in hand (which may be shared by many repos: never written to). */
  const fetched = new Map<string, BlobText>();
  const inHand = (oid: string) => held.contents.get(oid) ?? fetched.get(oid);
  // Only a file whose id is the one last synced is taken from the previous record.
  const keepsAny = GRAPHQL_FILES.some((l, i) => g.files[l] && stored[i] === g.files[l]!.oid);
  const previous = keepsAny ? await loadPrevious() : null;

  // Files neither in hand nor unchanged since the previous record: fetch them now.
  const missing = GRAPHQL_FILES.map((l, i) => ({ l, i, f: g.files[l] }))
    .filter(({ i, f }) => f && !f.isBinary && !inHand(f.oid) && !(previous && stored[i] === f.oid));
  if (missing.length) {
    try {
      const budget = RefreshBudget.forJob(redis, ctx.cfg.QUEUE_PREFIX, msg.job_id, ctx.cfg.GITHUB_REQUEST_BUDGET);
      const got = await fetchBlobs(ctx.github, missing.map((m) => m.f!), {
        maxBytes,
        budget,
        what: `file contents of ${owner}/${msg.repo}`,
      });
      for (const m of missing) {
        const b = got.get(m.f!.oid);
        // NOT_FOUND by the id listed (git keeps replaced files: the repository is gone or hidden since):
        // REST reads the repository as it is now, as for any repo that goes between plan and sync.
        if (!b) throw new GraphqlUnusable(`${m.f!.name} of ${owner}/${msg.repo} is gone from GitHub since the listing`);
        fetched.set(m.f!.oid, b);
      }
    } catch (err) {
      if (!(err instanceof GraphqlUnusable)) throw err;
      ctx.log.warn(`sync: GitHub GraphQL unusable (${err.message}); syncing ${msg.repo} over REST instead`);
      return null;
    }
  }

  const content = (i: number, label: string, prev: string | undefined): FileContent => {
    const f = g.files[GRAPHQL_FILES[i]];
    if (!f) return { text: null, truncated: false };
    if (f.isBinary) return { text: "", truncated: false };
    const b = inHand(f.oid);
    if (b) return b;
    return { text: prev ?? "", truncated: previous?.truncated_files?.includes(label) ?? false };
  };
  const ctxFile = g.files.repoContext;
  const ctxKept = ctxFile && !ctxFile.isBinary && !inHand(ctxFile.oid) && previous;
  const record = buildRecord(msg, gh, {
    readme: content(0, TRUNCATION_LABELS.readme, previous?.readme),
    repoContext: ctxKept
      ? {
        parsed: { value: previous.repoContext, error: previous.repoContextError },
        truncated: previous.truncated_files?.includes(TRUNCATION_LABELS.repoContext) ?? false,
      }
      : content(1, TRUNCATION_LABELS.repoContext, undefined),
    skills_index: content(2, TRUNCATION_LABELS.skills_index, previous?.skills_index),
    architecture: content(3, TRUNCATION_LABELS.architecture, previous?.architecture),
    languages: g.languages,
  }, maxBytes);
  await putJson(ctx.store, storageKeys.repo(msg.username, msg.repo), record);

  // Each file's id to remember (and those of files that are gone to forget) once the record is safe.
  const set: string[] = [];
  const del: string[] = [];
  GRAPHQL_FILES.forEach((l) => {
    const f = g.files[l];
    if (f) set.push(oidField(msg.repo, l), f.oid);
    else del.push(oidField(msg.repo, l));
  });
  return { record, remember: { fingerprint: msg.fingerprint, set, del } };
}
