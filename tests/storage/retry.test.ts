import { describe, expect, test } from "bun:test";
import { PreconditionFailedError } from "../../shared/errors.ts";
import { backoffDelay, httpStatusOf, isTransientError, withRetry } from "../../shared/retry.ts";

const sock = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe("retry policy", () => {
  test("classifies transient faults", () => {
    for (
      const e of [
        { code: 503 },
        { code: 500 },
        { status: 502 },
        { statusCode: 429 },
        { response: { status: 504 } },
        { code: 408 },
        sock("ECONNRESET"),
        sock("ECONNREFUSED"),
        sock("EPIPE"),
        sock("ETIMEDOUT"),
        sock("UND_ERR_SOCKET"),
        new Error("socket hang up"),
        new Error("request failed", { cause: sock("ECONNRESET") }),
        new AggregateError([sock("ECONNREFUSED")], "connect failed"),
      ]
    ) expect({ e, transient: isTransientError(e) }).toEqual({ e, transient: true });
    for (
      const e of [
        { code: 400 },
        { code: 403 },
        { status: 404 },
        { statusCode: 409 },
        { code: 412 },
        new PreconditionFailedError("k"),
        new Error("boom"),
        sock("ENOENT"),
        null,
        undefined,
        "text",
      ]
    ) expect({ e, transient: isTransientError(e) }).toEqual({ e, transient: false });
  });

  test("reads the status of every SDK error shape", () => {
    expect(httpStatusOf({ code: 412 })).toBe(412); // ApiError (multipart)
    expect(httpStatusOf({ status: 412, response: { status: 412 } })).toBe(412); // GaxiosError (resumable)
    expect(httpStatusOf({ statusCode: 409 })).toBe(409); // Azure RestError
    expect(httpStatusOf({ code: "ECONNRESET" })).toBeUndefined();
  });

  test("backoff grows exponentially, is capped, and is jittered below the ceiling", () => {
    const top = { baseMs: 100, maxMs: 1000, random: () => 0.999999 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, top))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay(3, { baseMs: 100, random: () => 0 })).toBe(0);
  });

  test("retries transient failures, at most `retries` times, and never a precondition or a 4xx", async () => {
    const sleeps: number[] = [];
    const opts = { retries: 3, baseMs: 10, sleep: (ms: number) => Promise.resolve(void sleeps.push(ms)) };
    let calls = 0;
    expect(await withRetry(() => (++calls < 3 ? Promise.reject({ code: 503 }) : Promise.resolve("ok")), opts)).toBe(
      "ok",
    );
    expect(calls).toBe(3);
    expect(sleeps).toHaveLength(2);

    calls = 0;
    await expect(withRetry(() => {
      calls++;
      return Promise.reject({ code: 503 });
    }, opts)).rejects.toEqual({ code: 503 });
    expect(calls).toBe(4);

    for (const err of [new PreconditionFailedError("k"), { code: 404 }, { statusCode: 400 }]) {
      calls = 0;
      await expect(withRetry(() => {
        calls++;
        return Promise.reject(err);
      }, opts)).rejects.toBe(err);
      expect(calls).toBe(1);
    }
  });
});
