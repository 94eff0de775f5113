import { createHash } from "node:crypto";
import type { GithubRepo, RepoRecord } from "./schemas/repo.ts";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** A repo's fingerprint from GitHub's own fields: changes when GitHub says the repo changed. */
export function repoFingerprint(r: GithubRepo): string {
  return sha256(
    JSON.stringify([
      r.pushed_at ?? null,
      r.updated_at ?? null,
      r.default_branch ?? null,
      r.size ?? 0,
      r.language ?? null,
      r.archived ?? false,
      r.stargazers_count ?? 0,
    ]),
  ).slice(0, 32);
}

/** The bundle's fingerprint: its repos' GitHub fingerprints, by name. */
export function bundleFingerprint(repos: { name: string; fingerprint: string }[]): string {
  return sha256([...repos].sort(byName).map((r) => `${r.name}\u0000${r.fingerprint}`).join("\n")).slice(0, 40);
}

/**
 * A bundle's identity (its storage key, its pointer comparison, its ETag):
 * GitHub's fields and the content together, so a file that changed while
 * GitHub's fields did not still makes a new bundle.
 */
export function bundleIdentity(githubFingerprint: string, contentFingerprint: string): string {
  return sha256(`${githubFingerprint}\n${contentFingerprint}`).slice(0, 40);
}

/**
 * The searchable content only: changes when what the ranking reads changed
 * (training trigger). Each repo's short fields go in as one JSON array and its
 * long texts as they are, each part after its length, so the encoding stays
 * unambiguous without escaping the texts into JSON (most of a merge's CPU).
 */
export function contentFingerprint(repos: RepoRecord[]): string {
  const h = createHash("sha256");
  for (const r of [...repos].sort(byName)) {
    const fields = JSON.stringify([
      r.name,
      r.metadata.description,
      r.metadata.topics,
      r.metadata.language,
      r.languages,
      r.repoContext,
    ]);
    for (const part of [fields, r.readme, r.skills_index, r.architecture]) {
      h.update(`${part.length}:`);
      h.update(part);
    }
    h.update("\n");
  }
  return h.digest("hex").slice(0, 40);
}

/** Sort order of bundles: by name, case-insensitively, ties by exact name. */
export function byName(a: { name: string }, b: { name: string }): number {
  const x = a.name.toLowerCase(), y = b.name.toLowerCase();
  return x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
