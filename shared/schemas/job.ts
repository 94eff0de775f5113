import { z } from "zod";
import { RepoName, Username } from "./names.ts";

export const JOB_STATES = [
  "queued",
  "planning",
  "syncing",
  "merging",
  "completed",
  "training",
  "trained",
  "training_skipped",
  "training_failed",
  "fresh",
  "failed",
] as const;
export const JobState = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobState>;

/** States after which the refresh itself is over (training may still follow `completed`). */
export const FINAL_STATES: ReadonlySet<JobState> = new Set([
  "completed",
  "trained",
  "training_skipped",
  "training_failed",
  "fresh",
  "failed",
]);
/** States after which nothing more will ever be published for the job. */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  "trained",
  "training_skipped",
  "training_failed",
  "fresh",
  "failed",
]);

export const Progress = z.object({
  total: z.number().int().nonnegative(),
  completed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  pending: z.number().int().nonnegative(),
  percentage: z.number().min(0).max(100),
});
export type Progress = z.infer<typeof Progress>;

export function progressOf(total: number, completed: number, failed: number): Progress {
  const done = completed + failed;
  return {
    total,
    completed,
    failed,
    pending: Math.max(0, total - done),
    percentage: total === 0 ? 0 : Math.round((done / total) * 1000) / 10,
  };
}

/**
 * Why a job failed (or training failed), for machines: set with `error`
 * wherever `error` is set, derived in one place from the error's class
 * (jobFailure in shared/errors.ts; the watchdog's `stuck` in the job scripts'
 * includes/job.lua). `error` is the human-readable, safe message.
 */
export const JOB_ERROR_CODES = {
  github_not_found: "The GitHub user (or a repository) does not exist.",
  github_unauthorized: "GitHub refused the configured token(s): an operator must fix the token.",
  github_rate_limited: "GitHub's rate limit was still in force after the waits a step may sit out.",
  github_unavailable: "GitHub kept failing (5xx, no answer, or none within GITHUB_REQUEST_TIMEOUT_MS) after retries.",
  limit_exceeded: "A configured bound was reached (GITHUB_REQUEST_BUDGET, MAX_BUNDLE_BYTES).",
  invalid_input: "The request named something that breaks a documented rule (a name, a stored record).",
  stalled: "The step's worker died or hung while holding it, MAX_STALLS times.",
  stuck: "No sign of life for JOB_STUCK_MS: failed by the watchdog.",
  storage_unavailable: "The storage backend failed (after retries); the previous bundle keeps serving.",
  training_failed: "Training failed; the previous model keeps serving.",
  internal: "Any other fault (details only in the operators' logs).",
} as const;
export type JobErrorCode = keyof typeof JOB_ERROR_CODES;
export const JobErrorCode = z.enum(Object.keys(JOB_ERROR_CODES) as [JobErrorCode, ...JobErrorCode[]]).describe(
  Object.entries(JOB_ERROR_CODES).map(([code, what]) => `\`${code}\`: ${what}`).join(" "),
);

/** The job object: what status, the event stream and webhooks all return. */
export const JobRecord = z.object({
  job_id: z.string(),
  username: Username,
  state: JobState,
  progress: Progress,
  force_refresh: z.boolean(),
  /** Only these repos (GitHub push webhook); absent for a full refresh. */
  only_repos: z.array(RepoName).optional(),
  created_at: z.string(),
  updated_at: z.string(),
  /** Why the job failed, or why training was skipped / failed: a safe message (publicError). */
  error: z.string().optional(),
  /** The machine-readable kind of `error`, present whenever `error` is (JOB_ERROR_CODES). */
  error_code: JobErrorCode.optional(),
  message: z.string().optional(),
  bundle_fingerprint: z.string().optional(),
});
export type JobRecord = z.infer<typeof JobRecord>;

// ---- queue messages (bee-queue job data) ----

/**
 * W3C trace context of the step that queued a message (shared/telemetry.ts):
 * the next step's span continues the same trace. Absent when tracing is off.
 */
export const TraceCarrier = z.object({
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
  tracestate: z.string().max(512).optional(),
});
export type TraceCarrier = z.infer<typeof TraceCarrier>;
export const PlanMessage = z.object({
  job_id: z.string(),
  username: Username,
  force_refresh: z.boolean().default(false),
  only_repos: z.array(RepoName).optional(),
  trace: TraceCarrier.optional(),
});
export type PlanMessage = z.infer<typeof PlanMessage>;

/** One file of a repository's root as GraphQL's tree listing names it. */
export const SyncFile = z.object({
  name: z.string().max(255),
  /** The blob's global node id (for `nodes(ids:)`). */
  id: z.string().min(1).max(200),
  oid: z.string().regex(/^[0-9a-f]{40}$/),
  byteSize: z.number().int().nonnegative(),
  isBinary: z.boolean(),
});
export type SyncFile = z.infer<typeof SyncFile>;

export const SyncMessage = z.object({
  job_id: z.string(),
  username: Username,
  repo: RepoName,
  /** The GitHub fingerprint the plan step saw for this repo. */
  fingerprint: z.string(),
  /** GitHub's repository object, as listed (so sync need not fetch it again). */
  github: z.record(z.string(), z.unknown()),
  /**
   * Listed over GraphQL: the repo's files by git object id (null: absent) and
   * its languages, so sync reads contents by id (fetched in batches by plan)
   * and needs no request of its own.
   */
  graphql: z.object({
    files: z.object({
      readme: SyncFile.nullable(),
      repoContext: SyncFile.nullable(),
      skills_index: SyncFile.nullable(),
      architecture: SyncFile.nullable(),
    }),
    languages: z.record(z.string(), z.number()),
  }).optional(),
  trace: TraceCarrier.optional(),
});
export type SyncMessage = z.infer<typeof SyncMessage>;

/** Most repos one batched sync job carries. */
export const MAX_SYNC_BATCH = 8;

/**
 * Several repos' syncs in one queue job: the GraphQL path's repos, whose
 * contents plan fetched, send no request of their own, and their work is
 * mostly the queue's per-job cost; batched, that cost is paid once per
 * MAX_SYNC_BATCH repos. Every repo is still written, counted, traced and
 * (on failure) retried on its own (workers/roles.ts).
 */
export const SyncBatchMessage = z.object({
  job_id: z.string(),
  username: Username,
  repos: z.array(SyncMessage).min(1).max(MAX_SYNC_BATCH),
  trace: TraceCarrier.optional(),
}).refine((b) => b.repos.every((r) => r.job_id === b.job_id && r.username === b.username), {
  message: "every repo of a batch belongs to the batch's job and user",
});
export type SyncBatchMessage = z.infer<typeof SyncBatchMessage>;

/** What the sync queue carries: one repo, or a batch. */
export const SyncJobMessage = z.union([SyncMessage, SyncBatchMessage]);
export type SyncJobMessage = z.infer<typeof SyncJobMessage>;

export const MergeMessage = z.object({ job_id: z.string(), username: Username, trace: TraceCarrier.optional() });
export type MergeMessage = z.infer<typeof MergeMessage>;

export const TrainMessage = z.object({
  job_id: z.string(),
  username: Username,
  content_fingerprint: z.string(),
  bundle_key: z.string(),
  trace: TraceCarrier.optional(),
});
export type TrainMessage = z.infer<typeof TrainMessage>;

/** Which receiver of which job has a delivery at the head of its list (shared/webhooks/callbacks.ts). */
export const NotifyMessage = z.object({
  job_id: z.string(),
  receiver: z.string().regex(/^[0-9a-f]{16}$/),
  trace: TraceCarrier.optional(),
});
export type NotifyMessage = z.infer<typeof NotifyMessage>;
