import { PreconditionFailedError, RequestTimeoutError } from "./errors.ts";

/**
 * The one backoff of foliosync: bounded exponential backoff with full jitter
 * (each wait uniform between 0 and a ceiling that doubles per attempt), so
 * that many clients retrying together spread out instead of meeting again.
 * Storage adapters wrap every SDK call in withRetry() (the SDKs' own retry
 * loops are off: one policy, one budget), the GitHub client spaces its quick
 * in-request retries with backoffDelay(), and the queues' retry strategy uses
 * it for the delay between a job's attempts. Preconditions and other 4xx
 * answers are never retried. Which errors are retried at all, waited out or
 * dead-lettered is decided by their class: see decideAfterFailure in errors.ts.
 */
export interface RetryOptions {
  /** Retries after the first attempt (default 4 → at most 5 attempts). */
  retries?: number;
  /** First backoff ceiling in ms (default 100); doubles per attempt. */
  baseMs?: number;
  /** Largest backoff ceiling in ms (default 2000). */
  maxMs?: number;
  /** Decides whether an error is transient (default isTransientError). */
  isTransient?: (err: unknown) => boolean;
  /** Called before each retry (logging, tests). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
  "ConnectionRefused",
  "ConnectionReset",
  "REQUEST_SEND_ERROR",
]);
const TRANSIENT_MESSAGE =
  /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|connection (?:was )?(?:reset|refused|closed)|other side closed|network error|fetch failed|premature close|Unable to connect/i;

/** The fields SDK and socket errors carry, any of which may be absent: read only after a type check. */
interface ErrorFields {
  statusCode?: unknown;
  status?: unknown;
  response?: { status?: unknown; statusCode?: unknown };
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  errors?: unknown;
  cause?: unknown;
}

/** The HTTP status an SDK error carries, whatever its shape (ApiError.code, GaxiosError.status, RestError.statusCode). */
export function httpStatusOf(err: unknown): number | undefined {
  const seen = new Set<unknown>();
  let e = err as ErrorFields | undefined;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    for (const v of [e.statusCode, e.status, e.response?.status, e.response?.statusCode, e.code]) {
      if (typeof v === "number" && v >= 100 && v < 600) return v;
      if (typeof v === "string" && /^[1-5]\d\d$/.test(v)) return Number(v);
    }
    e = e.cause as ErrorFields | undefined;
  }
  return undefined;
}

/** 5xx, 408, 429 and socket-level faults (reset, refused, hang up, timeouts). */
export function isTransientError(err: unknown): boolean {
  if (err instanceof PreconditionFailedError) return false;
  if (err instanceof RequestTimeoutError) return true;
  const status = httpStatusOf(err);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  const seen = new Set<unknown>();
  let e = err as ErrorFields | undefined;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    if (typeof e.code === "string" && TRANSIENT_CODES.has(e.code)) return true;
    if (typeof e.errno === "string" && TRANSIENT_CODES.has(e.errno)) return true;
    if (typeof e.message === "string" && TRANSIENT_MESSAGE.test(e.message)) return true;
    // AggregateError (happy-eyeballs connect failures) carries the causes in .errors
    if (Array.isArray(e.errors) && e.errors.some((x: unknown) => x !== e && isTransientError(x))) return true;
    e = e.cause as ErrorFields | undefined;
  }
  return false;
}

/** Backoff before retry number `attempt` (1-based): uniform in [0, min(maxMs, baseMs·2^(attempt-1))]. */
export function backoffDelay(attempt: number, opts: RetryOptions = {}): number {
  const base = opts.baseMs ?? 100;
  const max = opts.maxMs ?? 2000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs fn, retrying transient failures with bounded exponential backoff + jitter. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const retries = Math.max(0, opts.retries ?? 4);
  const transient = opts.isTransient ?? isTransientError;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !transient(err)) throw err;
      const delay = backoffDelay(attempt + 1, opts);
      opts.onRetry?.(err, attempt + 1, delay);
      await (opts.sleep ?? defaultSleep)(delay);
    }
  }
}
