import { expect, test } from "bun:test";
import {
  decideAfterFailure,
  errorCodeOf,
  GitHubNotFoundError,
  GitHubUnauthorizedError,
  GitHubUnavailableError,
  InputError,
  InvalidNameError,
  jobFailure,
  LimitExceededError,
  NonRetriableError,
  RequestTimeoutError,
  RetryAfterError,
  StalledError,
  StorageUnavailableError,
} from "../../shared/errors.ts";
import { BundleTooLargeError } from "../../shared/bundle-store.ts";
import { JOB_ERROR_CODES, JobRecord } from "../../shared/schemas/job.ts";
import { AiInputError } from "../../shared/ranking/ai-service.ts";
import { backoffDelay } from "../../shared/retry.ts";

test("an error's class decides: wait for a rate limit, dead-letter what cannot succeed, retry the rest", () => {
  const plenty = { retriesLeft: 3, waitsLeft: 5 };
  expect(decideAfterFailure(new RetryAfterError("rate limited", 60_000), plenty)).toEqual({
    action: "wait",
    ms: 60_000,
    reason: "rate limited",
  });
  expect(decideAfterFailure(new NonRetriableError("unknown user"), plenty).action).toBe("dead-letter");
  expect(decideAfterFailure(new InvalidNameError("bad name"), plenty).action).toBe("dead-letter");
  expect(decideAfterFailure(new Error("socket hang up"), plenty)).toEqual({
    action: "retry",
    reason: "socket hang up",
  });
  expect(decideAfterFailure("a thrown string", plenty)).toEqual({ action: "retry", reason: "a thrown string" });
});

test("spent budgets end in the dead letter, and a rate limit past its waits is an ordinary failure", () => {
  expect(decideAfterFailure(new Error("boom"), { retriesLeft: 0, waitsLeft: 5 }).action).toBe("dead-letter");
  expect(decideAfterFailure(new RetryAfterError("limited", 1000), { retriesLeft: 2, waitsLeft: 0 }).action).toBe(
    "retry",
  );
  expect(decideAfterFailure(new RetryAfterError("limited", 1000), { retriesLeft: 0, waitsLeft: 0 }).action).toBe(
    "dead-letter",
  );
});

test("input errors are one class, whichever module raises them", () => {
  expect(new AiInputError("empty query")).toBeInstanceOf(InputError);
  expect(new InvalidNameError("../etc")).toBeInstanceOf(InputError);
  expect(new InputError("x")).toBeInstanceOf(NonRetriableError);
});

test("a job's error_code comes from the error's class; error is the safe message", () => {
  const cases: [unknown, string][] = [
    [new GitHubNotFoundError("GitHub user ghost not found"), "github_not_found"],
    [new GitHubUnauthorizedError("every GitHub token failed authentication"), "github_unauthorized"],
    [new RetryAfterError("GitHub rate limit", 1000), "github_rate_limited"],
    [new LimitExceededError("GitHub request budget spent"), "limit_exceeded"],
    [new BundleTooLargeError(30_000, 20_000, 48), "limit_exceeded"],
    [new StalledError("stalled: …"), "stalled"],
    [new StorageUnavailableError("storage get failed (azure): connect ECONNREFUSED"), "storage_unavailable"],
    [new GitHubUnavailableError("GitHub 502 for the listing"), "github_unavailable"],
    [new RequestTimeoutError("GitHub did not answer within 30000 ms", 30_000), "github_unavailable"],
    [new InvalidNameError("invalid username"), "invalid_input"],
    [new NonRetriableError("something else"), "internal"],
    [new Error("EACCES /var/lib/x"), "internal"],
    ["a string", "internal"],
  ];
  for (const [err, code] of cases) expect([String(err), errorCodeOf(err)]).toEqual([String(err), code]);
  expect(errorCodeOf(new Error("tf failed"), "training_failed")).toBe("training_failed");
  expect(errorCodeOf(new StorageUnavailableError("down"), "training_failed")).toBe("storage_unavailable");
  const f = jobFailure(
    new StorageUnavailableError("storage put failed (local): EIO at /srv/data/bundles/x.json from 10.0.0.5"),
  );
  expect(f).toEqual({
    error_code: "storage_unavailable",
    error: "storage put failed (local): EIO at <path> from <address>",
  });
  // Every code is one the job schema accepts, and documented there.
  for (const code of Object.keys(JOB_ERROR_CODES)) {
    expect(JOB_ERROR_CODES[code as keyof typeof JOB_ERROR_CODES].length).toBeGreaterThan(10);
    expect(JobRecord.shape.error_code.safeParse(code).success).toBe(true);
  }
  expect(JobRecord.shape.error_code.safeParse("made_up").success).toBe(false);
});

test("the shared backoff is full jitter: anywhere from 0 to a ceiling that doubles per attempt, capped", () => {
  const at = (random: number, attempt: number) =>
    backoffDelay(attempt, { baseMs: 500, maxMs: 30_000, random: () => random });
  expect(at(0, 1)).toBe(0); // equal jitter would never go below half the ceiling
  expect(at(0.999999, 1)).toBe(499);
  expect(at(0.999999, 2)).toBe(999);
  expect(at(0.999999, 4)).toBe(3999);
  expect(at(0.999999, 20)).toBe(29_999);
});
