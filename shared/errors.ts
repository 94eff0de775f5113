import { redactText } from "./safe-error.ts";

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
  override name = "FoliosyncError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class NonRetriableError extends FoliosyncError {
  override name = "NonRetriableError";
}

export class RetryAfterError extends FoliosyncError {
  override name = "RetryAfterError";
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
  override name = "RequestTimeoutError";
  constructor(message: string, readonly timeoutMs: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A conditional storage write lost: create-only on an existing key, or a stale version. */
export class PreconditionFailedError extends FoliosyncError {
  override name = "PreconditionFailedError";
  constructor(readonly key: string, message = `precondition failed for ${key}`, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bad configuration: names the variable. */
export class ConfigError extends FoliosyncError {
  override name = "ConfigError";
}

/** Input that breaks a documented rule: an HTTP caller gets 400 with the message. */
export class InputError extends NonRetriableError {
  override name = "InputError";
}

/** A name (username, repo, key part) that may not reach a key. */
export class InvalidNameError extends InputError {
  override name = "InvalidNameError";
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
