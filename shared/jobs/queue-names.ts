import { withTrace } from "../telemetry.ts";

/** The bee-queue queues. `train` is consumed by the Deno training worker at low priority. */
export const QUEUES = ["plan", "sync", "merge", "train", "notify"] as const;
export type QueueName = (typeof QUEUES)[number];

/** bee-queue 2.0 key layout: `<prefix>:<queue>:<suffix>`. */
export function queueKey(
  prefix: string,
  queue: QueueName,
  suffix: "jobs" | "waiting" | "active" | "failed" | "succeeded" | "delayed" | "id" | "stalling",
): string {
  return `${prefix}:${queue}:${suffix}`;
}

export interface EnqueueOptions {
  retries?: number;
  /** Base delay of the jittered exponential backoff (ms). */
  backoffMs?: number;
  timeoutMs?: number;
}

/** Custom backoff strategy name registered by the workers (exponential with full jitter, capped). */
export const JITTER_BACKOFF = "jittered";

/**
 * A job's stored form in bee-queue 2.0 (what Job#toData writes). The data
 * gets the active trace context (shared/telemetry.ts) when tracing is on.
 */
export function beeJobData(data: unknown, opts: EnqueueOptions = {}): string {
  data = withTrace(data);
  const options: Record<string, unknown> = { timestamp: Date.now(), stacktraces: [] };
  if (opts.retries !== undefined) options.retries = opts.retries;
  if (opts.retries) options.backoff = { strategy: JITTER_BACKOFF, delay: opts.backoffMs ?? 500 };
  if (opts.timeoutMs) options.timeout = opts.timeoutMs;
  return JSON.stringify({ data, options, status: "created" });
}
