import { publicError, redactText } from "./safe-error.ts";
import type { JobErrorCode } from "./schemas/job.ts";

/**
 * Typed control-flow errors (Inngest style): the error's class decides what a
 * worker does with a failed attempt, in one place, decideAfterFailure below.
 *  - NonRetriableError (InputError among them): retrying cannot help (unknown
 *    user, bad input) → dead letter now.
 *  - RetryAfterError: retrying later will help, at a known time (rate limit) →
 *    wait until then; this is not counted as a failure.
 *  - anything else: transient → bounded exponential backoff (shared/retry.ts),
 *    then dead letter.
 */
export class FoliosyncError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // Every subclass is named after itself (logs and `String(err)` show the class).
    this.name = new.target.name;
  }
}

export class NonRetriableError extends FoliosyncError {}

export class RetryAfterError extends FoliosyncError {
  /** Milliseconds to wait before the next attempt. */
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(message, options);
    this.retryAfterMs = Math.max(0, retryAfterMs);
  }
}

/**
 * A request that got no complete answer within its deadline (a server that
 * never answers must not hold a job forever). Transient: the attempt is
 * retried by the job's backoff like any network fault.
 */
export class RequestTimeoutError extends FoliosyncError {
  constructor(message: string, readonly timeoutMs: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A conditional storage write lost: create-only on an existing key, or a stale version. */
export class PreconditionFailedError extends FoliosyncError {
  constructor(readonly key: string, message = `precondition failed for ${key}`, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bad configuration: names the variable. */
export class ConfigError extends FoliosyncError {}

/** Input that breaks a documented rule: an HTTP caller gets 400 with the message. */
export class InputError extends NonRetriableError {}

/** A name (username, repo, key part) that may not reach a key. */
export class InvalidNameError extends InputError {}

/**
 * The classes that name why a step failed, each mapped to a job's
 * `error_code` by errorCodeOf below (names come from the class: FoliosyncError).
 *  - GitHubNotFoundError: GitHub answered that the user (or a repository) does not exist (404, 410).
 *  - GitHubUnauthorizedError: GitHub refused the configured token(s) (401); only an operator can fix it.
 *  - LimitExceededError: a configured bound was reached (a request budget, a size limit).
 *  - StalledError: a step's deliveries died or hung MAX_STALLS times (its worker crashed holding it).
 *  - StorageUnavailableError: the storage backend failed after the adapter's retries; transient, so the
 *    queue retries the step.
 *  - GitHubUnavailableError: GitHub answered 5xx, or nothing (refused, reset), after the client's quick
 *    retries; transient. A request past GITHUB_REQUEST_TIMEOUT_MS is a RequestTimeoutError, the same code.
 */
export class GitHubNotFoundError extends NonRetriableError {}
export class GitHubUnauthorizedError extends NonRetriableError {}
export class LimitExceededError extends NonRetriableError {}
export class StalledError extends NonRetriableError {}
export class StorageUnavailableError extends FoliosyncError {}
export class GitHubUnavailableError extends FoliosyncError {}

/**
 * The one place where an error's class decides the job's `error_code`
 * (JOB_ERROR_CODES in shared/schemas/job.ts). `fallback` is the code of an
 * error of no known class: `internal`, or the step's own failure code
 * (`training_failed`). A rate limit reaching a job is GitHub's: it is the
 * only one a step waits out (RetryAfterError).
 */
export function errorCodeOf(err: unknown, fallback: JobErrorCode = "internal"): JobErrorCode {
  if (err instanceof GitHubNotFoundError) return "github_not_found";
  if (err instanceof GitHubUnauthorizedError) return "github_unauthorized";
  if (err instanceof RetryAfterError) return "github_rate_limited";
  if (err instanceof LimitExceededError) return "limit_exceeded";
  if (err instanceof StalledError) return "stalled";
  if (err instanceof StorageUnavailableError) return "storage_unavailable";
  if (err instanceof GitHubUnavailableError || err instanceof RequestTimeoutError) return "github_unavailable";
  if (err instanceof InputError) return "invalid_input";
  return fallback;
}

/** What a failed job records: the code from the error's class, and the safe message (publicError). */
export interface JobFailure {
  error: string;
  error_code: JobErrorCode;
}

/** A job's `error` and `error_code` for a thrown value (the only way workers build them). */
export function jobFailure(err: unknown, fallback: JobErrorCode = "internal"): JobFailure {
  return { error: publicError(err), error_code: errorCodeOf(err, fallback) };
}

/** What a worker does after an attempt failed. */
export type FailureDecision =
  /** Come back after `ms` (a rate limit): not a failure, spends none of the job's retries. */
  | { action: "wait"; ms: number; reason: string }
  /** Transient: the queue retries the job after its backoff. */
  | { action: "retry"; reason: string }
  /** Retrying cannot help, or the retries or waits are spent: dead letter with the reason. */
  | { action: "dead-letter"; reason: string };

/** The message of any thrown value, as logs and the DLQ may show it (URLs cut to scheme://host, credentials blanked). */
export function describeError(err: unknown): string {
  return redactText(err instanceof Error ? err.message : String(err));
}

/**
 * The one place where an error's class decides retry, wait until a time, or dead letter.
 * `retriesLeft`: attempts the queue still grants; `waitsLeft`: rate-limit waits this attempt may still sit out.
 */
export function decideAfterFailure(
  err: unknown,
  budget: { retriesLeft: number; waitsLeft: number },
): FailureDecision {
  const reason = describeError(err);
  if (err instanceof RetryAfterError && budget.waitsLeft > 0) return { action: "wait", ms: err.retryAfterMs, reason };
  if (err instanceof NonRetriableError || budget.retriesLeft <= 0) return { action: "dead-letter", reason };
  return { action: "retry", reason };
}
