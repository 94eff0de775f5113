import { hasDocumentation, parseRepoContext } from "../shared/repo-record.ts";
import { getJson, putJson } from "../shared/storage/json.ts";
import { storageKeys } from "../shared/keys.ts";
import { GithubRepo, metadataFromGithub, RepoRecord } from "../shared/schemas/repo.ts";
import type { SyncMessage } from "../shared/schemas/job.ts";
import type { WorkerContext } from "./context.ts";
import type { Conditional, RepoFile } from "./github/github-client.ts";
import { RefreshBudget } from "./github/budget.ts";

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
    languages: files.languages,
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

/**
 * sync: fetch one repo's README, context files and languages in parallel,
 * each a conditional request with its stored ETag (304 → keep the previous
 * record's value, no quota spent); write the record; mark the repo done.
 */
export async function syncRepo(ctx: WorkerContext, msg: SyncMessage): Promise<RepoRecord> {
  const { github, redis, jobs, store } = ctx;
  const user = msg.username;
  const gh = GithubRepo.parse(msg.github);
  const owner = gh.full_name.split("/")[0] || user;
  const key = storageKeys.repo(user, msg.repo);
  const etagsKey = jobs.keys.etags(user);

  const previous = (await getJson(store, key, RepoRecord).catch(() => null))?.value ?? null;
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
  await putJson(store, key, record);

  // Remember ETags (and forget those of files that are gone) after the record is safe.
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
  const multi = redis.multi();
  if (set.length) multi.hset(etagsKey, ...set);
  if (del.length) multi.hdel(etagsKey, ...del);
  multi.hset(jobs.keys.fingerprints(user), msg.repo, msg.fingerprint);
  await multi.exec();
  return record;
}
