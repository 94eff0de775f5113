import { pointerMatchesGithub, readPointer } from "../shared/bundle-store.ts";
import { bundleFingerprint, repoFingerprint } from "../shared/fingerprint.ts";
import { storageKeys } from "../shared/keys.ts";
import { isRepoName } from "../shared/schemas/names.ts";
import type { GithubRepo } from "../shared/schemas/repo.ts";
import {
  MAX_SYNC_BATCH,
  type PlanMessage,
  type SyncFile,
  type SyncJobMessage,
  type SyncMessage,
} from "../shared/schemas/job.ts";
import { mergeJobId } from "../shared/jobs/job-store.ts";
import type { WorkerContext } from "./context.ts";
import { RefreshBudget } from "./github/budget.ts";
import {
  BLOBS_PER_QUERY,
  type BlobText,
  fetchBlobs,
  type GraphqlListing,
  GraphqlUnusable,
  listReposGraphql,
} from "./github/graphql.ts";
import { BLOB_TTL_S, blobKey, encodeBlob, oidField } from "./github/blob-cache.ts";
import { Semaphore } from "./github/semaphore.ts";
import { storedIdFields, syncHeldRepo } from "./sync.ts";
import { describeError } from "../shared/errors.ts";
import { inSpan } from "../shared/telemetry.ts";
import type { StoredRepo } from "../shared/jobs/job-store.ts";

/**
 * Where plan leaves the job's note about a limit it applied (the bundle holds
 * only the first MAX_REPOS_PER_USER repositories): the final message (merge's,
 * or plan's own `fresh`) repeats it, so the job's record keeps saying so.
 */
export function limitNoteKey(prefix: string, jobId: string): string {
  return `${prefix}:job-note:limit:${jobId}`;
}

/** Most repositories missing from a listing that plan checks one by one before dropping them. */
const MAX_DELETION_CHECKS = 20;

/** The GitHub fields a sync job carries (keeps queue payloads small). */
const KEEP = [
  "name",
  "full_name",
  "description",
  "topics",
  "language",
  "html_url",
  "homepage",
  "stargazers_count",
  "forks_count",
  "fork",
  "archived",
  "created_at",
  "updated_at",
  "pushed_at",
  "default_branch",
  "size",
  "license",
] as const;
function slim(r: GithubRepo): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KEEP) if (k in r) out[k] = (r as Record<string, unknown>)[k];
  return out;
}

/**
 * plan: list the user's repositories (conditional, all pages), fingerprint
 * each from GitHub's own fields, and sync each stale or new repo: over
 * GraphQL plan fetches their changed files and syncs up to SYNC_IN_PLAN_MAX
 * of them itself, page by page; the others get sync jobs. Deleted repos drop
 * out. Nothing stale and the bundle current → `fresh`.
 */
export async function runPlan(ctx: WorkerContext, msg: PlanMessage): Promise<void> {
  const { jobs, redis, store } = ctx;
  const user = msg.username;
  const etagsKey = jobs.keys.etags(user);
  const fpKey = jobs.keys.fingerprints(user);
  // The user's ETags/file ids and stored fingerprints are read while the state moves (one round trip, not three).
  const [moved, cachedPages, stored] = await Promise.all([
    jobs.setState(msg.job_id, user, "planning", {}, ["queued", "planning"]),
    redis.hgetall(etagsKey),
    redis.hgetall(fpKey),
  ]);
  if (!moved) {
    // A redelivery after a crash between "merging" and its enqueue: enqueue again (idempotent by id).
    const job = await jobs.get(msg.job_id);
    if (job?.state === "merging") {
      await jobs.enqueue("merge", mergeJobId(msg.job_id), { job_id: msg.job_id, username: user });
    }
    return;
  }

  const budget = RefreshBudget.forJob(redis, ctx.cfg.QUEUE_PREFIX, msg.job_id, ctx.cfg.GITHUB_REQUEST_BUDGET);
  const maxRepos = ctx.cfg.MAX_REPOS_PER_USER;
  const only = msg.only_repos?.length ? new Set(msg.only_repos.map((n) => n.toLowerCase())) : null;
  /** Each listed repo's fingerprint, computed once. */
  const fingerprints = new WeakMap<GithubRepo, string>();
  const fingerprintOf = (r: GithubRepo) => {
    let fp = fingerprints.get(r);
    if (fp === undefined) fingerprints.set(r, fp = repoFingerprint(r));
    return fp;
  };
  /** The syncs of listed repos: new or changed by GitHub's fields, or asked for (force_refresh, only_repos). */
  const syncsOf = (listed: GithubRepo[]): SyncMessage[] =>
    listed.filter((r) =>
      isRepoName(r.name) && (!only || only.has(r.name.toLowerCase())) &&
      (msg.force_refresh || only !== null || stored[r.name] !== fingerprintOf(r))
    ).map((r) => ({
      job_id: msg.job_id,
      username: user,
      repo: r.name,
      fingerprint: fingerprintOf(r),
      github: slim(r),
    }));
  // Over GraphQL each page's syncs are prepared (files fetched, records stored) while the next page is listed.
  const pages = new PagedSyncs(ctx, msg, cachedPages, budget);
  const listing = await listRepos(ctx, user, cachedPages, budget, (page, files, last) => {
    pages.add(syncsOf(page), files, last);
  });
  // A GraphQL listing that broke off went on over REST: what its pages prepared is dropped (REST syncs them all).
  if (!listing.graphql) await pages.abandon();
  let limitNote: string | undefined;
  if (!listing.complete) {
    limitNote = `the bundle holds only the first ${maxRepos} repositories of ${user} by name ` +
      `(MAX_REPOS_PER_USER=${maxRepos}); the others are left out`;
    ctx.log.warn(`plan: ${limitNote}`, { job_id: msg.job_id });
    await redis.set(limitNoteKey(ctx.cfg.QUEUE_PREFIX, msg.job_id), limitNote, "EX", jobs.jobTtlS);
    await jobs.setState(msg.job_id, user, "planning", { message: limitNote }, ["planning"]);
  }

  const repos = listing.repos.filter((r) => isRepoName(r.name));
  const current = new Map(repos.map((r) => [r.name, fingerprintOf(r)]));

  // Deleted repos drop out: their fingerprints, ETags and records go.
  const deleted = await confirmDeleted(ctx, user, Object.keys(stored).filter((name) => !current.has(name)), {
    listedAtOnce: listing.pages === 1 || !listing.complete,
    budget,
  });
  if (deleted.length) {
    await redis.hdel(fpKey, ...deleted);
    await Promise.all(deleted.map((name) => store.delete(storageKeys.repo(user, name)).catch(() => false)));
    const etagFields = Object.keys(cachedPages).filter((f) => deleted.some((d) => f.startsWith(`${d}:`)));
    if (etagFields.length) await redis.hdel(etagsKey, ...etagFields);
  }

  // GraphQL: the syncs the pages prepared (the same rule, page by page); REST: one per repo to sync.
  const prepared = listing.graphql ? await pages.settle() : null;
  const syncs = prepared ? prepared.syncs : syncsOf(repos);
  if (syncs.length === 0) {
    const pointer = await readPointer(store, user);
    const expected = bundleFingerprint([...current].map(([name, fingerprint]) => ({ name, fingerprint })));
    if (pointer && pointerMatchesGithub(pointer.pointer, expected)) {
      await jobs.setState(msg.job_id, user, "fresh", {
        message: "nothing changed on GitHub; the bundle is current" + (limitNote ? `; ${limitNote}` : ""),
        bundle_fingerprint: pointer.pointer.fingerprint,
      }, ["planning"]);
      return;
    }
    // Nothing to sync, but the bundle is missing or out of date (e.g. a repo was deleted): merge.
    const merging = await jobs.setState(msg.job_id, user, "merging", {}, ["planning"]);
    if (merging) await jobs.enqueue("merge", mergeJobId(msg.job_id), { job_id: msg.job_id, username: user });
    return;
  }

  // The fetched contents are written to Redis on the connection the sync jobs are then enqueued on:
  // Redis runs one connection's commands in order, so no sync job can be taken before its contents
  // are there, and plan does not wait for the write before it enqueues (one round trip less).
  const [started] = await Promise.all([
    jobs.startSync(msg.job_id, user, batched(msg, prepared?.queued ?? syncs), prepared?.done ?? []),
    prepared?.written,
  ]);
  if (!started) ctx.log.warn("plan: job no longer planning; sync jobs not enqueued", { job_id: msg.job_id });
}

/** What a group of syncs came to: synced by plan, or left to sync jobs. */
interface GroupOutcome {
  done: StoredRepo[];
  queued: SyncMessage[];
  /** The pending write to Redis of the contents its sync jobs need. */
  written: Promise<unknown>;
}

/** A sync of a GraphQL listing before its files are asked for: the files it needs, and whether plan runs it. */
interface PendingSync {
  sync: SyncMessage;
  /** Every file of its repo whose id changed (all on a forced refresh). */
  wants: SyncFile[];
  inPlan: boolean;
}

/**
 * The syncs of a GraphQL listing, prepared page by page: as each page is
 * answered, the changed files of its repos are fetched in full queries
 * (BLOBS_PER_QUERY files; a remainder waits for the next page, the last page
 * sends all), and plan syncs those it takes on (SYNC_IN_PLAN_MAX in all, the
 * first listed) as their files arrive, while the next page is listed: once
 * the listing ends, only the last files' share is left, in as many queries as
 * fetching every file at once.
 */
class PagedSyncs {
  readonly syncs: SyncMessage[] = [];
  private readonly work: Promise<GroupOutcome>[] = [];
  private inPlanLeft: number;
  /** Syncs whose files are not asked for yet, in listing order. */
  private waiting: PendingSync[] = [];

  constructor(
    private readonly ctx: WorkerContext,
    private readonly msg: PlanMessage,
    private readonly userHash: Record<string, string>,
    private readonly budget: RefreshBudget,
  ) {
    this.inPlanLeft = ctx.cfg.SYNC_IN_PLAN_MAX;
  }

  add(syncs: SyncMessage[], listed: GraphqlListing["files"], last: boolean): void {
    this.syncs.push(...syncs);
    for (const sync of syncs) {
      const wants = listedFiles(sync, listed, this.userHash, this.msg.force_refresh === true);
      const inPlan = sync.graphql !== undefined && this.inPlanLeft > 0;
      if (inPlan) this.inPlanLeft--;
      this.waiting.push({ sync, wants, inPlan });
    }
    // Full queries now; on the last page, everything.
    let take = this.waiting.length;
    if (!last) {
      const full = Math.floor(this.waiting.reduce((n, w) => n + w.wants.length, 0) / BLOBS_PER_QUERY);
      let files = 0;
      take = 0;
      while (take < this.waiting.length && files + this.waiting[take].wants.length <= full * BLOBS_PER_QUERY) {
        files += this.waiting[take++].wants.length;
      }
    }
    if (take > 0) this.start(this.waiting.splice(0, take));
  }

  private start(group: PendingSync[]): void {
    const outcome = (async (): Promise<GroupOutcome> => {
      const fetched = await fetchFiles(this.ctx, this.msg, group, this.budget);
      return {
        ...await syncInPlan(this.ctx, this.msg, group, fetched, this.userHash),
        written: fetched?.written ?? Promise.resolve(),
      };
    })();
    outcome.catch(() => {}); // awaited by settle() or abandon(); until then a failure must not count as unhandled
    this.work.push(outcome);
  }

  /** Every group's outcome (the first failure thrown, as plan's own). */
  async settle(): Promise<
    { syncs: SyncMessage[]; done: StoredRepo[]; queued: SyncMessage[]; written: Promise<unknown> }
  > {
    if (this.waiting.length) this.start(this.waiting.splice(0)); // none once the last page was seen
    const outcomes = await Promise.all(this.work);
    return {
      syncs: this.syncs,
      done: outcomes.flatMap((o) => o.done),
      queued: outcomes.flatMap((o) => o.queued),
      written: Promise.all(outcomes.map((o) => o.written)),
    };
  }

  /** Waits for whatever was started, outcomes dropped. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.work);
  }
}

/**
 * The syncs plan runs itself: the repos listed over GraphQL whose every
 * needed file it holds, up to SYNC_IN_PLAN_MAX (the first ones, as plan
 * chose them before fetching; see PagedSyncs). Their queue hop (contents
 * to Redis and back, a job's pickup, finish and fan-in call) costs more than
 * building and storing a record; the records are stored before plan's commit
 * counts them, so a crash in between only repeats the work. A repo plan
 * cannot sync (a file gone since the listing, a storage fault) goes on as a
 * sync job of its own, with the retries and dead-lettering any sync job has.
 * `fetched` null: the files could not be fetched over GraphQL; every repo of
 * the group goes to a sync job (over REST).
 */
async function syncInPlan(
  ctx: WorkerContext,
  msg: PlanMessage,
  group: PendingSync[],
  fetched: FetchedFiles | null,
  userHash: Record<string, string>,
): Promise<{ done: StoredRepo[]; queued: SyncMessage[] }> {
  const done: StoredRepo[] = [];
  const queued = group.filter((w) => !fetched || !w.inPlan).map((w) => w.sync);
  if (!fetched) return { done, queued };
  const handOver = (s: SyncMessage) => {
    queued.push(s);
    ctx.metrics.planHandover();
  };
  const slots = new Semaphore(ctx.cfg.SYNC_CONCURRENCY);
  await Promise.all(
    group.filter((w) => w.inPlan).map(async ({ sync: s, wants }) => {
      // A file GitHub no longer has by its listed id: the sync job reads the repo as it is now.
      if (wants.some((f) => !fetched.contents.has(f.oid))) return handOver(s);
      await slots.acquire();
      try {
        const synced = await inSpan("sync", { jobId: msg.job_id }, () =>
          syncHeldRepo(ctx, s, {
            stored: storedIdFields(s.repo).map((f) => userHash[f] ?? null),
            contents: fetched.contents,
          }));
        if (!synced) return handOver(s);
        done.push({ repo: s.repo, remember: synced.remember });
        ctx.metrics.recordStored("plan");
      } catch (err) {
        ctx.log.info(`plan: ${s.repo} not synced in plan, going on as a sync job: ${describeError(err)}`, {
          job_id: msg.job_id,
        });
        handOver(s);
      } finally {
        slots.release();
      }
    }),
  );
  return { done, queued };
}

/**
 * The queue jobs for these syncs: repos whose contents plan fetched over
 * GraphQL go MAX_SYNC_BATCH to a job (they send no request of their own; a
 * job's fixed cost would outweigh their work); any other repo (REST) has a
 * job of its own.
 */
function batched(msg: PlanMessage, syncs: SyncMessage[]): SyncJobMessage[] {
  const out: SyncJobMessage[] = syncs.filter((s) => !s.graphql);
  const graphql = syncs.filter((s) => s.graphql);
  for (let i = 0; i < graphql.length; i += MAX_SYNC_BATCH) {
    const repos = graphql.slice(i, i + MAX_SYNC_BATCH);
    out.push(repos.length === 1 ? repos[0] : { job_id: msg.job_id, username: msg.username, repos });
  }
  return out;
}

interface PlanListing {
  repos: GithubRepo[];
  complete: boolean;
  /** Pages (REST) or queries (GraphQL) the listing took. */
  pages: number;
  /** Listed over GraphQL: each repository's root files and languages, by lower-cased name. */
  graphql?: GraphqlListing["files"];
}

/**
 * The user's repositories: over GraphQL when a token allows it (one query per
 * 100, with root files and languages; `onGraphqlPage` hears each page as it
 * is answered), else — or when GraphQL cannot serve the request — over REST
 * (conditional pages, ETags kept in the user's hash).
 */
async function listRepos(
  ctx: WorkerContext,
  user: string,
  cachedPages: Record<string, string>,
  budget: RefreshBudget,
  onGraphqlPage: (repos: GithubRepo[], files: GraphqlListing["files"], last: boolean) => void,
): Promise<PlanListing> {
  const { github, redis, jobs } = ctx;
  const maxRepos = ctx.cfg.MAX_REPOS_PER_USER;
  if (ctx.cfg.GITHUB_API !== "rest" && github.canGraphql) {
    try {
      const l = await listReposGraphql(github, user, { maxRepos, budget, onPage: onGraphqlPage });
      return { repos: l.repos, complete: l.complete, pages: l.pages, graphql: l.files };
    } catch (err) {
      if (!(err instanceof GraphqlUnusable)) throw err;
      ctx.log.warn(`plan: GitHub GraphQL unusable (${err.message}); listing ${user} over REST instead`);
    }
  }
  const etagsKey = jobs.keys.etags(user);
  const listing = await github.listUserRepos(user, {
    etag: (p) => cachedPages[`list:${p}:etag`],
    body: (p) => (cachedPages[`list:${p}:body`] ? JSON.parse(cachedPages[`list:${p}:body`]) : undefined),
  }, { maxRepos, budget });
  const changedPages = listing.pages.filter((p) => p.modified && p.etag);
  if (changedPages.length) {
    const fields: string[] = [];
    for (const p of changedPages) {
      fields.push(`list:${p.page}:etag`, p.etag!, `list:${p.page}:body`, JSON.stringify(p.body.map(slim)));
    }
    await redis.hset(etagsKey, ...fields);
  }
  // Pages beyond the current last page are stale leftovers.
  const lastPage = listing.pages.length;
  const stalePageFields = Object.keys(cachedPages).filter((f) => {
    const m = f.match(/^list:(\d+):/);
    return m && Number(m[1]) > lastPage;
  });
  if (stalePageFields.length) await redis.hdel(etagsKey, ...stalePageFields);
  return { repos: listing.repos, complete: listing.complete, pages: listing.pages.length };
}

/** The files of a record, by their labels in sync messages and in the user's id hash. */
const FILE_LABELS = ["readme", "repoContext", "skills_index", "architecture"] as const;

/** What plan fetched over GraphQL for a group of syncs. */
interface FetchedFiles {
  /** Every content fetched, by git object id. */
  contents: Map<string, BlobText>;
  /** The pending write to Redis of the contents the sync jobs need (sent, not yet awaited). */
  written: Promise<unknown>;
}

/**
 * GraphQL listing → a sync message carries its repo's root files (by git
 * object id) and languages; returns the contents its sync will need — files
 * whose id differs from the one last synced, or every file on a forced
 * refresh — which plan fetches. A code-only push changes no file id and
 * fetches nothing.
 */
function listedFiles(
  s: SyncMessage,
  listed: GraphqlListing["files"],
  userHash: Record<string, string>,
  force: boolean,
): SyncFile[] {
  const l = listed.get(s.repo.toLowerCase());
  if (!l) return [];
  s.graphql = { files: l.files, languages: l.languages };
  return FILE_LABELS.map((label) => ({ label, f: l.files[label] }))
    .filter(({ label, f }) => f && !f.isBinary && (force || userHash[oidField(s.repo, label)] !== f.oid))
    .map(({ f }) => f!);
}

/**
 * A group's files, fetched in batched queries; the contents its sync jobs
 * need (the repos plan does not sync itself) go to Redis by id as each
 * query's answer arrives. null when the batched fetch cannot be served over
 * GraphQL: the group's messages then go without GraphQL data and those repos
 * sync over REST, in sync jobs.
 */
async function fetchFiles(
  ctx: WorkerContext,
  msg: PlanMessage,
  group: PendingSync[],
  budget: RefreshBudget,
): Promise<FetchedFiles | null> {
  const wants = group.flatMap((w) => w.wants);
  if (!wants.length) return { contents: new Map(), written: Promise.resolve() };
  /** Ids of the contents the sync jobs will read from Redis. */
  const forJobs = new Set(group.filter((w) => !w.inPlan).flatMap((w) => w.wants.map((f) => f.oid)));
  // Each query's contents for the sync jobs go to Redis as its answer arrives (the others may still be on
  // their way); sent, not awaited here: a sync that finds a content missing fetches it itself.
  const writes: Promise<unknown>[] = [];
  const keep = (blobs: Map<string, BlobText>) => {
    const theirs = [...blobs].filter(([oid]) => forJobs.has(oid));
    if (!theirs.length) return;
    const multi = ctx.redis.multi();
    for (const [oid, b] of theirs) {
      multi.set(blobKey(ctx.cfg.QUEUE_PREFIX, ctx.cfg.MAX_FILE_BYTES, oid), encodeBlob(b), "EX", BLOB_TTL_S);
    }
    const written = multi.exec();
    written.catch(() => {}); // the caller awaits it (below); until then a failure must not count as unhandled
    writes.push(written);
  };
  try {
    const contents = await fetchBlobs(ctx.github, wants, {
      maxBytes: ctx.cfg.MAX_FILE_BYTES,
      budget,
      what: `file contents of ${msg.username}'s repositories`,
      onBatch: forJobs.size ? keep : undefined,
    });
    return { contents, written: Promise.all(writes) };
  } catch (err) {
    if (!(err instanceof GraphqlUnusable)) throw err;
    ctx.log.warn(`plan: GitHub GraphQL unusable (${err.message}); these repos sync over REST instead`);
    for (const w of group) delete w.sync.graphql;
    return null;
  }
}

/**
 * Which of the repositories a listing lacks are really gone. A listing of one
 * page is one answer, so what it lacks is gone (as is what lies past
 * MAX_REPOS_PER_USER). Pages fetched one after another can miss a repository
 * that moved across a page boundary meanwhile (another one was deleted or
 * renamed), so each is checked by name; past MAX_DELETION_CHECKS, the rest
 * count as gone only when every one checked was gone, and wait for the next
 * refresh otherwise.
 */
async function confirmDeleted(
  ctx: WorkerContext,
  user: string,
  missing: string[],
  opts: { listedAtOnce: boolean; budget: RefreshBudget },
): Promise<string[]> {
  if (missing.length === 0 || opts.listedAtOnce) return missing;
  const checked = missing.slice(0, MAX_DELETION_CHECKS);
  const exists = await Promise.all(checked.map((name) => ctx.github.repoExists(user, name, opts.budget)));
  const gone = checked.filter((_, i) => !exists[i]);
  const kept = checked.filter((_, i) => exists[i]);
  if (kept.length) {
    ctx.log.warn(`plan: ${kept.length} repositories missing from the listing still exist; kept`, { user, kept });
  }
  const unchecked = missing.slice(MAX_DELETION_CHECKS);
  return kept.length === 0 ? [...gone, ...unchecked] : gone;
}
