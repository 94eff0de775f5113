import { expect, test } from "bun:test";
import {
  decideAfterFailure,
  InputError,
  InvalidNameError,
  NonRetriableError,
  RetryAfterError,
} from "../../shared/errors.ts";
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

test("the shared backoff is full jitter: anywhere from 0 to a ceiling that doubles per attempt, capped", () => {
  const at = (random: number, attempt: number) =>
    backoffDelay(attempt, { baseMs: 500, maxMs: 30_000, random: () => random });
  expect(at(0, 1)).toBe(0); // equal jitter would never go below half the ceiling
  expect(at(0.999999, 1)).toBe(499);
  expect(at(0.999999, 2)).toBe(999);
  expect(at(0.999999, 4)).toBe(3999);
  expect(at(0.999999, 20)).toBe(29_999);
});
