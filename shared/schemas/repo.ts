import { z } from "zod";
import { RepoName } from "./names.ts";

/** The GitHub fields we keep for a repository (a subset of "list repositories for a user"). */
export const RepoMetadata = z.object({
  description: z.string().nullable(),
  topics: z.array(z.string()),
  language: z.string().nullable(),
  html_url: z.string(),
  homepage: z.string().nullable(),
  stargazers_count: z.number().int(),
  forks_count: z.number().int(),
  fork: z.boolean(),
  archived: z.boolean(),
  created_at: z.string().nullable(),
  updated_at: z.string().nullable(),
  pushed_at: z.string().nullable(),
  default_branch: z.string(),
  size: z.number(),
  license: z.string().nullable(),
});
export type RepoMetadata = z.infer<typeof RepoMetadata>;

/** One repository as the sync worker stores it and the bundle carries it. */
export const RepoRecord = z.object({
  name: RepoName,
  full_name: z.string(),
  metadata: RepoMetadata,
  languages: z.record(z.string(), z.number()),
  /** Parsed `.repo-context.json`; `{}` when absent or malformed. */
  repoContext: z.record(z.string(), z.unknown()),
  /** Why `.repo-context.json` could not be used (present only when it was malformed). */
  repoContextError: z.string().optional(),
  readme: z.string(),
  /** Files larger than MAX_FILE_BYTES, kept cut to that size (present only when some were). */
  truncated_files: z.array(z.string()).optional(),
  skills_index: z.string(),
  architecture: z.string(),
  has_documentation: z.boolean(),
  fingerprint: z.string(),
  synced_at: z.string(),
});
export type RepoRecord = z.infer<typeof RepoRecord>;

/** The fields of GitHub's repository object that the plan step reads (lenient: GitHub adds fields). */
export const GithubRepo = z
  .object({
    name: z.string(),
    full_name: z.string(),
    description: z.string().nullable().optional(),
    topics: z.array(z.string()).optional(),
    language: z.string().nullable().optional(),
    html_url: z.string(),
    homepage: z.string().nullable().optional(),
    stargazers_count: z.number().optional(),
    forks_count: z.number().optional(),
    fork: z.boolean().optional(),
    archived: z.boolean().optional(),
    created_at: z.string().nullable().optional(),
    updated_at: z.string().nullable().optional(),
    pushed_at: z.string().nullable().optional(),
    default_branch: z.string().optional(),
    size: z.number().optional(),
    license: z.object({ spdx_id: z.string().nullable().optional(), name: z.string().nullable().optional() })
      .nullable()
      .optional(),
  })
  .passthrough();
export type GithubRepo = z.infer<typeof GithubRepo>;

export function metadataFromGithub(r: GithubRepo): RepoMetadata {
  return {
    description: r.description ?? null,
    topics: r.topics ?? [],
    language: r.language ?? null,
    html_url: r.html_url,
    homepage: r.homepage ?? null,
    stargazers_count: r.stargazers_count ?? 0,
    forks_count: r.forks_count ?? 0,
    fork: r.fork ?? false,
    archived: r.archived ?? false,
    created_at: r.created_at ?? null,
    updated_at: r.updated_at ?? null,
    pushed_at: r.pushed_at ?? null,
    default_branch: r.default_branch ?? "main",
    size: r.size ?? 0,
    license: r.license?.spdx_id ?? r.license?.name ?? null,
  };
}
