/**
 * The CLI's exit codes: scripts branch on them, so each one keeps its meaning.
 * docs/RUNBOOK.md and README.md list them.
 */
export const EXIT = {
  /** Done; for `refresh --wait`, the job ended completed, fresh, trained or training_skipped. */
  OK: 0,
  /** The job (or the requested operation) ended in failure: state `failed`, a replay that moved nothing. */
  FAILED: 1,
  /** Bad arguments, bad input (a 400 from the gateway) or bad configuration. */
  USAGE: 2,
  /** No such user bundle, job, DLQ entry or model version (404). */
  NOT_FOUND: 3,
  /** Gateway, Redis, storage or GitHub unreachable, or a 5xx answer. */
  UNAVAILABLE: 4,
  /** 401/403: an API key is missing or out of scope. */
  DENIED: 5,
  /** 429: over the client's refresh rate. */
  RATE_LIMITED: 6,
  /** `--wait` gave up after `--timeout` seconds; the job goes on. */
  TIMEOUT: 7,
  /** A conditional write lost a race (e.g. a model rollback while a training promoted); nothing changed. */
  CONFLICT: 8,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the CLI with a chosen exit code and a one-line message (no stack). */
export class CliError extends Error {
  constructor(message: string, readonly code: ExitCode) {
    super(message);
    this.name = "CliError";
  }
}
