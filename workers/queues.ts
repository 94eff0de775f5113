import BeeQueue from "bee-queue";
import type { Config } from "../shared/config.ts";
import { JITTER_BACKOFF, type QueueName } from "../shared/jobs/queue-names.ts";

/** Exponential backoff with full jitter, capped: attempt n waits up to base·2^n. */
export function jitteredDelay(baseMs: number, attempt: number, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
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
    stallInterval: 5_000, // keep equal to STALL_INTERVAL_MS in roles.ts
    // deno-lint-ignore no-explicit-any -- bee-queue's typings omit its custom backoff strategies
  } as any);
  // deno-lint-ignore no-explicit-any -- bee-queue's typings omit its custom backoff strategies
  (q as any).backoffStrategies.set(JITTER_BACKOFF, (job: any) => {
    const attempt = job.options.stacktraces?.length ?? 1;
    return jitteredDelay(job.options.backoff?.delay ?? 500, attempt);
  });
  q.on(
    "error",
    (err: Error) => console.error(JSON.stringify({ level: "error", msg: `queue ${name}: ${err.message}` })),
  );
  return q;
}
