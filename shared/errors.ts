/**
 * Typed control-flow errors (Inngest style): the error's class decides what a
 * worker does with a failed attempt.
 *  - NonRetriableError: retrying cannot help (unknown user, bad input) → fail now.
 *  - RetryAfterError: retrying later will help, at a known time (rate limit) →
 *    wait until then; this is not counted as a failure.
 *  - anything else: transient → bounded exponential backoff, then dead letter.
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

/** A name (username, repo, key part) that may not reach a key. */
export class InvalidNameError extends NonRetriableError {
  override name = "InvalidNameError";
}
