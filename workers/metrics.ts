/**
 * Prometheus metrics of one worker process (Bun roles or the Deno training
 * worker), on its own registry, served at `/metrics` by health-server.ts:
 *  - foliosync_worker_job_duration_seconds{role,outcome}  one attempt of a job (ok | retry | failed | malformed)
 *  - foliosync_worker_queue_wait_seconds{role}            enqueue → start of an attempt (backoff delays included)
 *  - foliosync_worker_job_retries_total{role}             attempts that failed and were handed back for a retry
 *  - foliosync_worker_dead_letters_total{role}            jobs this process moved to the dead-letter queue
 *  - foliosync_dlq_depth, foliosync_queue_waiting{queue}  read from Redis at scrape time
 *  - foliosync_github_requests_total{route,status}        GitHub calls by route template and answer
 *  - foliosync_github_quota_remaining                     last `x-ratelimit-remaining` GitHub sent
 *  - foliosync_github_token_quota_remaining{token,resource}, foliosync_github_token_alive{token}
 *                                                          each pooled token's quota (Redis, at scrape time; token = fingerprint)
 *  - foliosync_storage_errors_total{backend,op}           blob store calls that threw (precondition conflicts excluded)
 *  - foliosync_training_duration_seconds{backend,state}   one training message, by TF.js backend and final state
 *  - foliosync_worker_redis_up                            1 when the last scrape could read Redis
 *  - foliosync_worker_process_*, foliosync_worker_nodejs_*  CPU, memory, event loop (a worker process's entry
 *                                                         point turns them on: collectProcessMetrics)
 * Label values come from code (role names, route templates, op names), never
 * from job data, so the series stay bounded.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Redis } from "ioredis";
import { PreconditionFailedError } from "../shared/errors.ts";
import { redisKeys } from "../shared/keys.ts";
import { queueKey, QUEUES } from "../shared/jobs/queue-names.ts";
import type { BlobStore } from "../shared/storage/types.ts";
import { readTokenQuotas } from "./github/token-pool.ts";

export type JobOutcome = "ok" | "retry" | "failed" | "malformed";

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private readonly jobDuration = new Histogram({
    name: "foliosync_worker_job_duration_seconds",
    help: "One attempt of a job, by role and outcome",
    labelNames: ["role", "outcome"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: "foliosync_worker_queue_wait_seconds",
    help: "Time from enqueue to the start of an attempt, by role",
    labelNames: ["role"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: "foliosync_worker_job_retries_total",
    help: "Attempts that failed transiently and were handed back to the queue for a retry",
    labelNames: ["role"] as const,
    registers: [this.registry],
  });
  private readonly deadLetters = new Counter({
    name: "foliosync_worker_dead_letters_total",
    help: "Jobs this process moved to the dead-letter queue",
    labelNames: ["role"] as const,
    registers: [this.registry],
  });
  private readonly recordsStored = new Counter({
    name: "foliosync_repo_records_stored_total",
    help:
      "Repo records this process stored, by who synced the repo (plan: its files in hand, GraphQL path; sync: a sync job)",
    labelNames: ["by"] as const,
    registers: [this.registry],
  });
  private readonly planHandovers = new Counter({
    name: "foliosync_plan_handovers_total",
    help: "Repos plan took on but handed to a sync job (a file gone from GitHub since the listing, a storage fault)",
    registers: [this.registry],
  });
  private readonly dlqDepth = new Gauge({
    name: "foliosync_dlq_depth",
    help: "Dead-lettered jobs (read from Redis at scrape time)",
    registers: [this.registry],
  });
  private readonly waiting = new Gauge({
    name: "foliosync_queue_waiting",
    help: "Jobs waiting per queue (read from Redis at scrape time)",
    labelNames: ["queue"] as const,
    registers: [this.registry],
  });
  private readonly githubRequests = new Counter({
    name: "foliosync_github_requests_total",
    help: "GitHub API requests by route template and HTTP status (0: no answer)",
    labelNames: ["route", "status"] as const,
    registers: [this.registry],
  });
  private readonly githubQuota = new Gauge({
    name: "foliosync_github_quota_remaining",
    help: "Requests left in the current GitHub rate-limit window (last x-ratelimit-remaining seen; NaN before any)",
    registers: [this.registry],
  });
  private readonly tokenQuota = new Gauge({
    name: "foliosync_github_token_quota_remaining",
    help: "Quota left per pooled GitHub token (by fingerprint) and resource (core: REST requests, graphql: points)",
    labelNames: ["token", "resource"] as const,
    registers: [this.registry],
  });
  private readonly tokenAlive = new Gauge({
    name: "foliosync_github_token_alive",
    help: "1 while a pooled GitHub token (by fingerprint) is in the pool, 0 once GitHub refused it",
    labelNames: ["token"] as const,
    registers: [this.registry],
  });
  private readonly storageErrors = new Counter({
    name: "foliosync_storage_errors_total",
    help: "Blob store calls that threw, by backend and operation (precondition conflicts excluded)",
    labelNames: ["backend", "op"] as const,
    registers: [this.registry],
  });
  private readonly trainingDuration = new Histogram({
    name: "foliosync_training_duration_seconds",
    help: "One training message, by TF.js backend and final state",
    labelNames: ["backend", "state"] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  private readonly redisUp = new Gauge({
    name: "foliosync_worker_redis_up",
    help: "1 when the last scrape could read Redis",
    registers: [this.registry],
  });

  constructor() {
    this.githubQuota.set(Number.NaN);
  }

  /** CPU, memory and event-loop metrics of this process (once per process, from its entry point). */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry, prefix: "foliosync_worker_" });
  }

  job(role: string, outcome: JobOutcome, seconds: number): void {
    this.jobDuration.observe({ role, outcome }, seconds);
    if (outcome === "retry") this.retries.inc({ role });
    if (outcome === "failed" || outcome === "malformed") this.deadLetters.inc({ role });
  }

  /** `enqueuedAt`: bee-queue's job.options.timestamp (epoch ms); ignored when absent or in the future. */
  queueWaited(role: string, enqueuedAt: unknown, now = Date.now()): void {
    const t = Number(enqueuedAt);
    if (!Number.isFinite(t) || t <= 0 || t > now) return;
    this.queueWait.observe({ role }, (now - t) / 1000);
  }

  /** One GitHub answer: `status` 0 when none came; `remaining` the x-ratelimit-remaining header. */
  githubResponse(route: string, status: number, remaining?: string): void {
    this.githubRequests.inc({ route, status: String(status) });
    const n = Number(remaining);
    if (remaining !== undefined && remaining !== "" && Number.isFinite(n) && n >= 0) this.githubQuota.set(n);
  }

  /** A repo's record stored: by plan (the repos it syncs itself) or by a sync job. */
  recordStored(by: "plan" | "sync"): void {
    this.recordsStored.inc({ by });
  }

  /** A repo plan took on went to a sync job instead. */
  planHandover(): void {
    this.planHandovers.inc();
  }

  storageError(backend: string, op: string): void {
    this.storageErrors.inc({ backend, op });
  }

  training(backend: string, state: string, seconds: number): void {
    this.trainingDuration.observe({ backend, state }, seconds);
  }

  /** Reads the Redis-side gauges, then renders the text format. */
  async render(redis: Redis | undefined, prefix: string): Promise<string> {
    if (redis) {
      try {
        const pipe = redis.pipeline();
        pipe.llen(redisKeys(prefix).dlq());
        for (const q of QUEUES) pipe.llen(queueKey(prefix, q, "waiting"));
        const res = await withTimeout(pipe.exec(), 1_000);
        const val = (i: number) => {
          const [err, v] = res?.[i] ?? [new Error("missing"), 0];
          if (err) throw err;
          return Number(v) || 0;
        };
        this.dlqDepth.set(val(0));
        QUEUES.forEach((q, i) => this.waiting.set({ queue: q }, val(i + 1)));
        this.redisUp.set(1);
        for (const q of await withTimeout(readTokenQuotas(redis, prefix), 1_000)) {
          this.tokenAlive.set({ token: q.token }, q.dead ? 0 : 1);
          if (q.core_remaining !== undefined) {
            this.tokenQuota.set({ token: q.token, resource: "core" }, q.core_remaining);
          }
          if (q.graphql_remaining !== undefined) {
            this.tokenQuota.set({ token: q.token, resource: "graphql" }, q.graphql_remaining);
          }
        }
      } catch {
        this.redisUp.set(0);
      }
    } else {
      this.redisUp.set(0);
    }
    return await this.registry.metrics();
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** The blob store with every failed call counted (a PreconditionFailedError is an expected race, not a fault). */
export function instrumentStore(store: BlobStore, metrics: WorkerMetrics): BlobStore {
  const counted = <A extends unknown[], R>(op: string, fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await fn(...a);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) metrics.storageError(store.backend, op);
      throw err;
    }
  };
  return {
    backend: store.backend,
    get: counted("get", (k: string) => store.get(k)),
    put: counted("put", (k: string, d: Uint8Array | string, o?: Parameters<BlobStore["put"]>[2]) => store.put(k, d, o)),
    list: counted("list", (p: string) => store.list(p)),
    delete: counted("delete", (k: string) => store.delete(k)),
    ping: counted("ping", () => store.ping()),
    close: store.close ? () => store.close!() : undefined,
  };
}
