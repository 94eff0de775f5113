import { InvalidNameError } from "./errors.ts";
import { isRepoName, isUsername } from "./schemas/names.ts";

/**
 * Every Redis key and storage key, built only from validated names so that no
 * user input can escape its prefix. Usernames are case-insensitive on GitHub,
 * so keys use the lower-cased login.
 */
export function userKey(username: string): string {
  if (!isUsername(username)) throw new InvalidNameError(`invalid username: ${JSON.stringify(username)}`);
  return username.toLowerCase();
}
export function repoKeyPart(repo: string): string {
  if (!isRepoName(repo)) throw new InvalidNameError(`invalid repository name: ${JSON.stringify(repo)}`);
  return repo;
}
const JOB_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
export function jobKeyPart(jobId: string): string {
  if (!JOB_ID_RE.test(jobId)) throw new InvalidNameError(`invalid job id: ${JSON.stringify(jobId)}`);
  return jobId;
}
export function isJobId(s: unknown): s is string {
  return typeof s === "string" && JOB_ID_RE.test(s);
}
/** GitHub's `X-GitHub-Delivery` (a GUID; bounded here so it can name a key). */
const GITHUB_DELIVERY_RE = /^[A-Za-z0-9-]{1,64}$/;
export function isGithubDeliveryId(s: unknown): s is string {
  return typeof s === "string" && GITHUB_DELIVERY_RE.test(s);
}
function githubDeliveryPart(id: string): string {
  if (!isGithubDeliveryId(id)) throw new InvalidNameError(`invalid GitHub delivery id: ${JSON.stringify(id)}`);
  return id;
}
const FP_RE = /^[a-f0-9]{8,128}$/;
function fp(fingerprint: string): string {
  if (!FP_RE.test(fingerprint)) throw new InvalidNameError(`invalid fingerprint: ${JSON.stringify(fingerprint)}`);
  return fingerprint;
}

/** Storage keys (DESIGN.md "Storage"). */
export const storageKeys = {
  repo: (user: string, repo: string) => `repos/${userKey(user)}/${repoKeyPart(repo)}.json`,
  reposPrefix: (user: string) => `repos/${userKey(user)}/`,
  bundle: (user: string, fingerprint: string) => `bundles/${userKey(user)}/${fp(fingerprint)}.json`,
  bundleCurrent: (user: string) => `bundles/${userKey(user)}/current.json`,
  bundlesPrefix: (user: string) => `bundles/${userKey(user)}/`,
  modelPrefix: (user: string, contentFingerprint: string) => `models/${userKey(user)}/${fp(contentFingerprint)}/`,
  modelCurrent: (user: string) => `models/${userKey(user)}/current.json`,
};

/** Redis keys. `prefix` is the configured QUEUE_PREFIX (default "fs"). */
export function redisKeys(prefix = "fs") {
  return {
    job: (jobId: string) => `${prefix}:job:${jobKeyPart(jobId)}`,
    /** Set of repo names already counted done/failed for a job (exactly-once fan-in). */
    jobDone: (jobId: string) => `${prefix}:job:${jobKeyPart(jobId)}:done`,
    jobEvents: (jobId: string) => `${prefix}:events:${jobKeyPart(jobId)}`,
    /** Channel for every job of every user (metrics, notify). */
    allEvents: () => `${prefix}:events`,
    /** Per-user refresh lock: value = the job id of the user's refresh in flight; released when it ends. */
    lock: (user: string) => `${prefix}:lock:${userKey(user)}`,
    /** Sorted set of the jobs the watchdog watches, scored by their last sign of life (ms). */
    inflight: () => `${prefix}:inflight`,
    /** Deliveries of one bee-queue job not yet finished (a count above 1 on start = a stall). */
    deliveries: (queue: string, beeJobId: string) => `${prefix}:deliveries:${queue}:${beeJobId}`,
    /** Hash repo → GitHub fingerprint of the stored record. */
    fingerprints: (user: string) => `${prefix}:user:${userKey(user)}:fingerprints`,
    /** Hash url → etag, and url → cached body, for conditional requests. */
    etags: (user: string) => `${prefix}:user:${userKey(user)}:etags`,
    /** Pending training per user (single flight; a newer bundle supersedes). */
    trainPending: (user: string) => `${prefix}:train-pending:${userKey(user)}`,
    /** One client's request count in one fixed window of one limiter (`refresh`, `ai`). */
    rateLimit: (limiter: string, client: string, window: number) => `${prefix}:rl:${limiter}:${client}:${window}`,
    /** Counters for tests and metrics (e.g. merges run per job). */
    counter: (name: string) => `${prefix}:count:${name}`,
    dlq: () => `${prefix}:dlq`,
    /** A GitHub webhook delivery already acted on (set NX with an expiry: each `X-GitHub-Delivery` acts once). */
    githubDelivery: (id: string) => `${prefix}:gh-delivery:${githubDeliveryPart(id)}`,
    /** A running worker process's presence (JSON, expires unless renewed; shared/worker-presence.ts). */
    worker: (id: string) => `${prefix}:worker:${id.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100)}`,
    workersPattern: () => `${prefix}:worker:*`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
