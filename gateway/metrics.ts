/**
 * Prometheus metrics of one gateway instance, on its own registry (so that
 * several apps in one process — tests — never clash):
 *  - foliosync_http_request_duration_seconds{method,route,status}  histogram
 *  - foliosync_queue_jobs{queue,state}   bee-queue depths, read from Redis at scrape time
 *  - foliosync_dlq_depth                 dead-letter queue length
 *  - foliosync_job_transitions_total{state}  job state changes seen on the all-events channel
 *  - foliosync_job_duration_seconds{state}   created → final state, per finished job
 *  - foliosync_rate_limited_total, foliosync_sse_streams (open event streams)
 * The two job metrics are fed by the all-jobs feed (job-feed.ts, one pub/sub
 * connection per instance); every instance sees every job: aggregate with max().
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { JobStore } from "../shared/jobs/job-store.ts";
import { RequestHistogram } from "./request-histogram.ts";
import { queueKey, QUEUES } from "../shared/jobs/queue-names.ts";
import { FINAL_STATES, type JobRecord } from "../shared/schemas/job.ts";

export interface GatewayMetrics {
  registry: Registry;
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  rateLimited(): void;
  sseOpened(): void;
  sseClosed(): void;
  /** Reads queue depths from Redis, then renders the text format. */
  render(): Promise<string>;
  /** One published job change (from the all-jobs feed). */
  observeJob(job: JobRecord): void;
  contentType: string;
}

export function createMetrics(jobs: JobStore): GatewayMetrics {
  const registry = new Registry();
  // Not on the registry: kept by hand (request-histogram.ts), rendered after it.
  const requests = new RequestHistogram(
    "foliosync_http_request_duration_seconds",
    "Gateway request latency by route",
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  const queueJobs = new Gauge({
    name: "foliosync_queue_jobs",
    help: "Jobs per bee-queue queue and state (waiting, active, delayed, failed, succeeded)",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
  });
  const dlq = new Gauge({ name: "foliosync_dlq_depth", help: "Dead-lettered jobs", registers: [registry] });
  const transitions = new Counter({
    name: "foliosync_job_transitions_total",
    help: "Job state changes observed (every published job object, by new state)",
    labelNames: ["state"] as const,
    registers: [registry],
  });
  const durations = new Histogram({
    name: "foliosync_job_duration_seconds",
    help: "Time from job creation to a final state",
    labelNames: ["state"] as const,
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  const limited = new Counter({
    name: "foliosync_rate_limited_total",
    help: "Refresh requests refused with 429",
    registers: [registry],
  });
  const sse = new Gauge({ name: "foliosync_sse_streams", help: "Open event streams", registers: [registry] });
  const up = new Gauge({
    name: "foliosync_redis_up",
    help: "1 when the last scrape could read Redis",
    registers: [registry],
  });

  async function readQueues() {
    const pipe = jobs.redis.pipeline();
    for (const q of QUEUES) {
      pipe.llen(queueKey(jobs.prefix, q, "waiting"));
      pipe.llen(queueKey(jobs.prefix, q, "active"));
      pipe.zcard(queueKey(jobs.prefix, q, "delayed"));
      pipe.scard(queueKey(jobs.prefix, q, "failed"));
      pipe.scard(queueKey(jobs.prefix, q, "succeeded"));
    }
    pipe.llen(jobs.keys.dlq());
    const res = (await pipe.exec()) ?? [];
    const val = (i: number) => {
      const [err, v] = res[i] ?? [null, 0];
      return err ? 0 : Number(v) || 0;
    };
    let i = 0;
    for (const q of QUEUES) {
      for (const state of ["waiting", "active", "delayed", "failed", "succeeded"]) {
        queueJobs.set({ queue: q, state }, val(i++));
      }
    }
    dlq.set(val(i));
  }

  return {
    registry,
    contentType: registry.contentType,
    observeRequest: (method, route, status, seconds) => requests.observe(method, route, status, seconds),
    rateLimited: () => limited.inc(),
    sseOpened: () => sse.inc(),
    sseClosed: () => sse.dec(),
    async render() {
      try {
        await readQueues();
        up.set(1);
      } catch {
        up.set(0);
      }
      return (await registry.metrics()) + requests.render();
    },
    observeJob(job) {
      transitions.inc({ state: job.state });
      if (FINAL_STATES.has(job.state)) {
        const sec = (Date.parse(job.updated_at) - Date.parse(job.created_at)) / 1000;
        if (Number.isFinite(sec) && sec >= 0) durations.observe({ state: job.state }, sec);
      }
    },
  };
}
