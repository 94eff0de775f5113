import { decideAfterFailure } from "../../shared/errors.ts";

/** Most rate-limit waits one attempt sits out before it is treated as a failure. */
export const MAX_RATE_WAITS = 24;

/**
 * Runs `attempt`; when it ends in a RetryAfterError (GitHub asks to come back
 * later), waits as long as the error says and runs it again: waiting out a
 * rate limit is not a failure and spends none of the job's retries. Any other
 * error, or more than `maxWaits` waits in a row, goes to the caller.
 */
export async function waitingOutRateLimits<T>(
  attempt: () => Promise<T>,
  opts: { log?: (msg: string) => void; maxWaits?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxWaits = opts.maxWaits ?? MAX_RATE_WAITS;
  for (let waits = 0;; waits++) {
    try {
      return await attempt();
    } catch (err) {
      // Only the wait is decided here; retry or dead letter is the caller's (it knows the retries left).
      const decision = decideAfterFailure(err, { retriesLeft: 1, waitsLeft: maxWaits - waits });
      if (decision.action !== "wait") throw err;
      opts.log?.(`${decision.reason}; waiting ${Math.ceil(decision.ms / 1000)} s, then trying again`);
      await sleep(decision.ms);
    }
  }
}
