import { hasDocumentation, parseRepoContext } from "../shared/repo-record.ts";
import { getJson, putJson } from "../shared/storage/json.ts";
import { storageKeys } from "../shared/keys.ts";
import { GithubRepo, metadataFromGithub, RepoRecord } from "../shared/schemas/repo.ts";
import type { SyncMessage } from "../shared/schemas/job.ts";
import type { WorkerContext } from "./context.ts";
import type { Conditional, RepoFile } from "./github/github-client.ts";

/** Context files read from each repo's root (404 = absent = ""). */
export const CONTEXT_FILES = {
  repoContext: ".repo-context.json",
  skills_index: "SKILLS-INDEX.md",
  architecture: "ARCHITECTURE.md",
} as const;

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

  const [readme, ctxFile, skills, arch, langs] = await Promise.all([
    github.getReadme(owner, msg.repo, e(0)),
    github.getFile(owner, msg.repo, CONTEXT_FILES.repoContext, e(1)),
    github.getFile(owner, msg.repo, CONTEXT_FILES.skills_index, e(2)),
    github.getFile(owner, msg.repo, CONTEXT_FILES.architecture, e(3)),
    github.getLanguages(owner, msg.repo, e(4)),
  ]);

  const text = (r: Conditional<RepoFile> | null, prev: string | undefined) =>
    r === null ? "" : r.modified ? r.data!.text : prev ?? "";
  const readmeText = text(readme, previous?.readme);
  const skillsText = text(skills, previous?.skills_index);
  const archText = text(arch, previous?.architecture);

  let repoContext: Record<string, unknown>;
  let repoContextError: string | undefined;
  if (ctxFile === null) repoContext = {};
  else if (!ctxFile.modified && previous) {
    repoContext = previous.repoContext;
    repoContextError = previous.repoContextError;
  } else {
    const parsed = parseRepoContext(ctxFile.data?.text ?? "");
    repoContext = parsed.value;
    repoContextError = parsed.error;
  }
  const languages = langs === null ? {} : langs.modified ? langs.data ?? {} : previous?.languages ?? {};

  const record: RepoRecord = {
    name: msg.repo,
    full_name: gh.full_name,
    metadata: metadataFromGithub(gh),
    languages,
    repoContext,
    ...(repoContextError ? { repoContextError } : {}),
    readme: readmeText,
    skills_index: skillsText,
    architecture: archText,
    has_documentation: hasDocumentation(repoContext, readmeText),
    fingerprint: msg.fingerprint,
    synced_at: new Date().toISOString(),
  };
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
