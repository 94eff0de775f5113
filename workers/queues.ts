import BeeQueue from "bee-queue";
import type { Config } from "../shared/config.ts";
import type { JobStore } from "../shared/jobs/job-store.ts";
import { JITTER_BACKOFF, type QueueName } from "../shared/jobs/queue-names.ts";
import { backoffDelay } from "../shared/retry.ts";

/** Longest wait between two attempts of a queued job. */
export const QUEUE_BACKOFF_CAP_MS = 30_000;

/**
 * bee-queue stall detection period: a worker renews its hold on each active
 * job every half period; every worker checks for jobs whose holder stopped
 * renewing every period, so a crashed worker's jobs are redelivered within ~2×.
 */
export const STALL_INTERVAL_MS = 5_000;

/** Starts the periodic stall check of a consuming queue (every worker, training included). */
export function watchStalls(q: BeeQueue): void {
  q.checkStalledJobs(STALL_INTERVAL_MS);
}

/** What a delivery that stalled too often becomes. */
export function stalledReason(stalls: number, maxStalls: number): string {
  return `stalled: the worker holding it died or hung ${stalls} times (MAX_STALLS=${maxStalls})`;
}

/**
 * Runs one delivery of a bee-queue job, counting deliveries that never
 * finished (bee-queue requeues a stalled job without limit): at `maxStalls`
 * earlier stalls the job is not run again but handed to `onStalled` (the
 * dead-letter queue and the job's failure). `run` resolves "handled" when the
 * job is done (succeeded or failed for good), "retry" when it throws for
 * bee-queue to retry.
 */
export async function guardDelivery<T>(
  jobs: JobStore,
  queue: QueueName,
  beeJobId: string,
  maxStalls: number,
  onStalled: (reason: string) => Promise<void>,
  run: () => Promise<T>,
): Promise<T | undefined> {
  const stalls = await jobs.beginDelivery(queue, beeJobId);
  if (stalls >= maxStalls) {
    await onStalled(stalledReason(stalls, maxStalls));
    await jobs.endDelivery(queue, beeJobId, true);
    return undefined;
  }
  let handled = false;
  try {
    const out = await run();
    handled = true;
    return out;
  } finally {
    await jobs.endDelivery(queue, beeJobId, handled).catch(() => {});
  }
}

/** A bee-queue queue with foliosync's settings. */
export function createQueue(cfg: Config, name: QueueName, isWorker: boolean): BeeQueue {
  const q = new BeeQueue(name, {
    prefix: cfg.QUEUE_PREFIX,
    redis: { url: cfg.REDIS_URL },
    isWorker,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
    removeOnSuccess: true,
    removeOnFailure: false,
    activateDelayedJobs: isWorker,
    stallInterval: STALL_INTERVAL_MS,
    // deno-lint-ignore no-explicit-any -- bee-queue's typings omit its custom backoff strategies
  } as any);
  // deno-lint-ignore no-explicit-any -- bee-queue's typings omit its custom backoff strategies
  (q as any).backoffStrategies.set(JITTER_BACKOFF, (job: any) => {
    const attempt = job.options.stacktraces?.length ?? 1;
    // Retry number `attempt` waits up to base·2^attempt (full jitter, capped).
    return backoffDelay(attempt + 1, { baseMs: job.options.backoff?.delay ?? 500, maxMs: QUEUE_BACKOFF_CAP_MS });
  });
  q.on(
    "error",
    (err: Error) => console.error(JSON.stringify({ level: "error", msg: `queue ${name}: ${err.message}` })),
  );
  return q;
}
