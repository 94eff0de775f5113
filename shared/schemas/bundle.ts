import { z } from "zod";
import { Username } from "./names.ts";
import { RepoRecord } from "./repo.ts";

/** One immutable bundle version: `bundles/{user}/{fingerprint}.json`. */
export const Bundle = z.object({
  username: Username,
  /** The bundle's identity: GitHub's fields and the content together (fingerprint.ts bundleIdentity). */
  fingerprint: z.string(),
  /** Hash of the repos' GitHub fingerprints: what a plan compares to decide the bundle is current. */
  github_fingerprint: z.string().optional(),
  /** Hash of the text the ranking reads: changes only when searchable content changed. */
  content_fingerprint: z.string(),
  generated_at: z.string(),
  repos: z.array(RepoRecord),
});
export type Bundle = z.infer<typeof Bundle>;

/** `bundles/{user}/current.json`: the pointer readers follow; swapped with a conditional write. */
export const BundlePointer = z.object({
  username: Username,
  fingerprint: z.string(),
  github_fingerprint: z.string().optional(),
  content_fingerprint: z.string(),
  key: z.string(),
  generated_at: z.string(),
  repo_count: z.number().int(),
  documented_count: z.number().int(),
});
export type BundlePointer = z.infer<typeof BundlePointer>;

/** `models/{user}/current.json`: the promoted model; swapped with a conditional write. */
export const ModelPointer = z.object({
  username: Username,
  /** The bundle content the model was trained on (Bundle.content_fingerprint). */
  content_fingerprint: z.string().min(1).max(200),
  /** Storage prefix of the artifacts (`models/{user}/{content_fingerprint}/`). */
  prefix: z.string().min(1).max(1024),
  backend: z.string().max(64),
  trained_at: z.string().max(64),
  /** Held-out fused metrics at promotion time. */
  metrics: z.record(z.string(), z.unknown()).optional(),
});
export type ModelPointer = z.infer<typeof ModelPointer>;
