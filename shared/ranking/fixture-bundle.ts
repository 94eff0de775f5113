/**
 * Builds a Bundle straight from a fixture owner directory
 * (`../shared/fixtures/github/<owner>/`): the same fields the sync worker
 * fills (README, `.repo-context.json` parsed leniently, SKILLS-INDEX.md,
 * ARCHITECTURE.md, languages, metadata from repos.json). Used by
 * scripts/eval-ranking.ts, the benchmarks and the tests. node:fs works in
 * Bun and Deno alike.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Bundle } from "../schemas/bundle.ts";
import { type GithubRepo, metadataFromGithub, type RepoRecord } from "../schemas/repo.ts";
import { bundleFingerprint, byName, contentFingerprint, repoFingerprint } from "../fingerprint.ts";
import { hasDocumentation, parseRepoContext } from "../repo-record.ts";

function readOptional(dir: string, names: string[]): string {
  if (!existsSync(dir)) return "";
  const files = readdirSync(dir);
  for (const n of names) {
    const hit = files.find((f) => f.toLowerCase() === n.toLowerCase());
    if (hit) return readFileSync(join(dir, hit), "utf8");
  }
  return "";
}

function readRepoList(ownerDir: string): GithubRepo[] {
  return JSON.parse(readFileSync(join(ownerDir, "repos.json"), "utf8")) as GithubRepo[];
}

export function loadFixtureRecords(ownerDir: string, repos: GithubRepo[] = readRepoList(ownerDir)): RepoRecord[] {
  const synced = "2026-11-23T00:00:00.000Z";
  return repos
    .map((gh) => {
      const dir = join(ownerDir, gh.name);
      const readme = readOptional(dir, ["README.md", "readme.md", "README", "README.markdown", "readme.markdown"]);
      const ctx = parseRepoContext(readOptional(dir, [".repo-context.json"]));
      const langText = readOptional(dir, ["languages.json"]);
      let languages: Record<string, number> = {};
      try {
        languages = langText ? JSON.parse(langText) : {};
      } catch { /* absent */ }
      const rec: RepoRecord = {
        name: gh.name,
        full_name: gh.full_name,
        metadata: metadataFromGithub(gh),
        languages,
        repoContext: ctx.value,
        ...(ctx.error ? { repoContextError: ctx.error } : {}),
        readme,
        skills_index: readOptional(dir, ["SKILLS-INDEX.md"]),
        architecture: readOptional(dir, ["ARCHITECTURE.md"]),
        has_documentation: hasDocumentation(ctx.value, readme),
        fingerprint: repoFingerprint(gh),
        synced_at: synced,
      };
      return rec;
    })
    .sort(byName);
}

export function loadFixtureBundle(ownerDir: string): Bundle {
  const list = readRepoList(ownerDir);
  const repos = loadFixtureRecords(ownerDir, list);
  const username = (list[0] as { owner?: { login?: string } } | undefined)?.owner?.login ?? basename(ownerDir);
  return {
    username,
    fingerprint: bundleFingerprint(repos),
    content_fingerprint: contentFingerprint(repos),
    generated_at: "2026-11-23T00:00:00.000Z",
    repos,
  };
}

export interface JudgedQuery {
  query: string;
  relevant: string[];
}

export function loadQueries(file: string): JudgedQuery[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("//"))
    .map((l) => JSON.parse(l) as JudgedQuery);
}
