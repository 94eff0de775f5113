import type { Redis } from "ioredis";
import { redisKeys } from "../keys.ts";
import { isRepoName, isUsername } from "../schemas/names.ts";
import {
  JOB_STATES,
  JobRecord,
  type JobState,
  type MergeMessage,
  type PlanMessage,
  type Progress,
  progressOf,
  type SyncMessage,
} from "../schemas/job.ts";
import { beeJobData, type EnqueueOptions, queueKey, type QueueName } from "./queue-names.ts";
import { loadScripts, type ScriptedRedis } from "./scripts.ts";
import { CallbackRegistry } from "../webhooks/callbacks.ts";

export interface JobStoreOptions {
  prefix?: string;
  lockTtlMs?: number;
  /** How long job records are kept after their last change. */
  jobTtlS?: number;
  /** Retries for transient faults before the DLQ. */
  retries?: number;
  /** Status webhook deliveries: retries before the DLQ, and the backoff base (ms). */
  notifyRetries?: number;
  notifyBackoffMs?: number;
}

export interface DlqEntry {
  queue: QueueName;
  bee_job_id: string;
  data: unknown;
  error: string;
  failed_at: string;
  job_id?: string;
}

const now = () => new Date().toISOString();

export interface RefreshInput {
  username: string;
  force_refresh?: boolean;
  only_repos?: string[];
}
/** A per-client rate limit, checked atomically in the same script as the lock. */
export interface RateLimit {
  client: string;
  limit: number;
  windowMs: number;
}
interface FanInBatch {
  username: string;
  items: {
    repo: string;
    outcome: "completed" | "failed";
    resolve: (r: { counted: boolean; last: boolean; readonly job: JobRecord | null }) => void;
    reject: (err: unknown) => void;
  }[];
}
export type RefreshAccepted = {
  /** The job (new, or the one already in flight); built from the script's reply on first read. */
  readonly job: JobRecord;
  jobId: string;
  created: boolean;
  limited?: undefined;
};
export type RefreshLimited = {
  limited: { retryAfterS: number };
  job?: undefined;
  jobId?: undefined;
  created?: undefined;
};

/**
 * Builds the job object from stored or published json (plus counters when
 * read from the hash). Throws when it is not a job.
 */
export function jobFrom(json: string | null | undefined, counters?: [unknown, unknown, unknown]): JobRecord | null {
  if (!json) return null;
  const raw = JSON.parse(json);
  if (counters) raw.progress = progressOf(Number(counters[0] ?? 0), Number(counters[1] ?? 0), Number(counters[2] ?? 0));
  else raw.progress ??= progressOf(0, 0, 0);
  // cjson writes empty tables as objects: drop such leftovers rather than fail.
  if (raw.only_repos && !Array.isArray(raw.only_repos)) delete raw.only_repos;
  return JobRecord.parse(raw);
}

const JOB_STATE_SET: ReadonlySet<string> = new Set(JOB_STATES);
const str = (v: unknown): v is string => typeof v === "string";
/** true: a string; false: absent; throws on anything else (as zod's optional string would). */
const optStr = (v: unknown): boolean => {
  if (v === undefined) return false;
  if (typeof v !== "string") throw new Error("not a job record");
  return true;
};
const count = (v: unknown): number => {
  const n = Number(v ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
};
const isProgress = (v: unknown): v is Progress => {
  if (v === null || typeof v !== "object") return false;
  const p = v as Record<keyof Progress, unknown>;
  return Number.isSafeInteger(p.total) && Number.isSafeInteger(p.completed) &&
    Number.isSafeInteger(p.failed) && Number.isSafeInteger(p.pending) && typeof p.percentage === "number";
};

/**
 * The trusted read path for job json that our own Lua scripts wrote (the
 * job hash, the reply of a script, a published event): what `jobFrom` returns,
 * without a zod parse per read (the hot path of status reads, refreshes and the
 * all-jobs feed). Builds the object field by field in schema order, so unknown
 * fields are dropped and the answer has the same shape and key order as
 * `JobRecord.parse`; throws when the json is not a job (missing id, user,
 * state or timestamps). API input is validated by zod (shared/schemas/api.ts),
 * never by this; `jobFrom` (zod JobRecord) is the reference it must agree with
 * (tests/jobs/job-store.test.ts).
 */
export function storedJob(json: string | null | undefined, counters?: [unknown, unknown, unknown]): JobRecord | null {
  if (!json) return null;
  const raw = JSON.parse(json);
  if (
    raw === null || typeof raw !== "object" || !str(raw.job_id) || !isUsername(raw.username) ||
    !JOB_STATE_SET.has(raw.state) || typeof raw.force_refresh !== "boolean" || !str(raw.created_at) ||
    !str(raw.updated_at)
  ) {
    throw new Error("not a job record");
  }
  const job: JobRecord = {
    job_id: raw.job_id,
    username: raw.username,
    state: raw.state,
    progress: counters
      ? progressOf(count(counters[0]), count(counters[1]), count(counters[2]))
      : isProgress(raw.progress)
      ? raw.progress
      : progressOf(0, 0, 0),
    force_refresh: raw.force_refresh,
  } as JobRecord;
  // Same key order as JobRecord.parse (schema order).
  // cjson writes an empty only_repos as an object: dropped, like jobFrom.
  if (Array.isArray(raw.only_repos)) {
    if (!raw.only_repos.every(isRepoName)) throw new Error("not a job record");
    job.only_repos = raw.only_repos;
  }
  job.created_at = raw.created_at;
  job.updated_at = raw.updated_at;
  if (optStr(raw.error)) job.error = raw.error;
  if (optStr(raw.message)) job.message = raw.message;
  if (optStr(raw.bundle_fingerprint)) job.bundle_fingerprint = raw.bundle_fingerprint;
  return job;
}

/**
 * The job-state layer: job records, progress, the per-user refresh lock and
 * every enqueue that must be atomic with a state change. Each operation is
 * one named Lua script (shared/jobs/lua). Used by the gateway (Deno) and the
 * workers (Bun).
 */
export class JobStore {
  readonly redis: ScriptedRedis;
  readonly prefix: string;
  readonly keys: ReturnType<typeof redisKeys>;
  readonly lockTtlMs: number;
  readonly jobTtlS: number;
  readonly retries: number;
  readonly notifyRetries: number;
  readonly notifyBackoffMs: number;
  /** Status-webhook receivers of each job (shared/webhooks/callbacks.ts). */
  readonly callbacks: CallbackRegistry;

  constructor(redis: Redis, opts: JobStoreOptions = {}) {
    this.redis = loadScripts(redis);
    this.prefix = opts.prefix ?? "fs";
    this.keys = redisKeys(this.prefix);
    this.lockTtlMs = opts.lockTtlMs ?? 120_000;
    this.jobTtlS = opts.jobTtlS ?? 7 * 24 * 3600;
    this.retries = opts.retries ?? 5;
    this.notifyRetries = opts.notifyRetries ?? 6;
    this.notifyBackoffMs = opts.notifyBackoffMs ?? 1000;
    this.callbacks = new CallbackRegistry(redis, this.prefix, this.jobTtlS);
  }

  private eventsPrefix() {
    return `${this.prefix}:events:`;
  }

  queueOptions(queue: QueueName): EnqueueOptions {
    switch (queue) {
      case "plan":
      case "sync":
      case "merge":
        return { retries: this.retries, backoffMs: 500 };
      case "train":
        return { retries: 1, backoffMs: 2000 };
      case "notify":
        return { retries: this.notifyRetries, backoffMs: this.notifyBackoffMs };
    }
  }

  /**
   * One refresh in flight per user: takes the lock, creates the job and
   * enqueues its plan job atomically, or returns the job already in flight.
   * Two steps of one script (request-refresh-5.lua): a peek with small
   * arguments (rate, job in flight) answers a repeated request in one round
   * trip; a new job costs a second one, which re-checks the lock.
   */
  requestRefresh(input: RefreshInput): Promise<RefreshAccepted>;
  requestRefresh(input: RefreshInput, rate: RateLimit): Promise<RefreshAccepted | RefreshLimited>;
  async requestRefresh(input: RefreshInput, rate?: RateLimit): Promise<RefreshAccepted | RefreshLimited> {
    const jobId = crypto.randomUUID();
    const windowMs = rate?.windowMs ?? 60_000;
    const keys = [
      this.keys.lock(input.username),
      this.keys.job(jobId),
      queueKey(this.prefix, "plan", "jobs"),
      queueKey(this.prefix, "plan", "waiting"),
      this.keys.rateLimit(rate?.client ?? "-", Math.floor(Date.now() / windowMs)),
    ] as const;
    const jobKeyPrefix = `${this.prefix}:job:`;
    // Step 1, a peek (see request-refresh-5.lua): the rate and a job in flight, with small arguments.
    let reply = await this.redis.requestRefresh(...keys, rate?.limit ?? 0, windowMs, jobKeyPrefix);
    let stored = "";
    if (Number(reply[0]) === 2) {
      // Step 2, only when nothing is in flight: the new job (the rate was counted by the peek).
      const t = now();
      const record: Omit<JobRecord, "progress"> = {
        job_id: jobId,
        username: input.username,
        state: "queued",
        force_refresh: input.force_refresh ?? false,
        created_at: t,
        updated_at: t,
        ...(input.only_repos?.length ? { only_repos: input.only_repos } : {}),
      };
      const plan: PlanMessage = {
        job_id: jobId,
        username: input.username,
        force_refresh: record.force_refresh,
        ...(record.only_repos ? { only_repos: record.only_repos } : {}),
      };
      stored = JSON.stringify(record);
      // What is published for the new job: the record with empty progress (built here, not by cjson in Redis).
      const published = stored.slice(0, -1) + ',"progress":' + JSON.stringify(progressOf(0, 0, 0)) + "}";
      reply = await this.redis.requestRefresh(
        ...keys,
        0,
        windowMs,
        jobKeyPrefix,
        jobId,
        stored,
        beeJobData(plan, this.queueOptions("plan")),
        this.lockTtlMs,
        this.jobTtlS,
        this.eventsPrefix(),
        this.keys.allEvents(),
        published,
      );
    }
    if (Number(reply[0]) === -1) {
      return { limited: { retryAfterS: Math.max(1, Math.ceil(Number(reply[1]) / 1000)) } };
    }
    const created = Number(reply[0]) === 1;
    const id = String(reply[1]);
    // The job object is built only when a caller reads it (the refresh route needs the id only).
    let job: JobRecord | undefined;
    const json = created ? stored : String(reply[2] ?? "");
    const counters: [unknown, unknown, unknown] = created ? [0, 0, 0] : [reply[3], reply[4], reply[5]];
    return {
      jobId: id,
      created: created && id === jobId,
      get job() {
        return (job ??= storedJob(json, counters)!);
      },
    };
  }

  async get(jobId: string): Promise<JobRecord | null> {
    const [json, total, completed, failed] = await this.redis.hmget(
      this.keys.job(jobId),
      "json",
      "total",
      "completed",
      "failed",
    );
    return storedJob(json, [total, completed, failed]);
  }

  /**
   * Moves a job to `state` (merging `patch` into it) and publishes it.
   * `from` restricts the allowed previous states; by default any
   * non-terminal state. Returns null when the move was not allowed.
   */
  async setState(
    jobId: string,
    username: string,
    state: JobState,
    patch: Partial<Pick<JobRecord, "error" | "message" | "bundle_fingerprint">> = {},
    from: JobState[] = [],
  ): Promise<JobRecord | null> {
    const out = await this.redis.setState(
      this.keys.job(jobId),
      this.keys.lock(username),
      jobId,
      state,
      JSON.stringify(patch),
      now(),
      this.eventsPrefix(),
      this.keys.allEvents(),
      from.join(","),
      this.lockTtlMs,
    );
    const job = jobFrom(out);
    // Every state change reaches the job's status-webhook receivers (signed, by the notify worker).
    if (job) await this.callbacks.fanOut(jobId);
    return job;
  }

  /** Records the total and enqueues every sync job in one atomic step. */
  async startSync(jobId: string, syncs: SyncMessage[]): Promise<JobRecord | null> {
    const opts = this.queueOptions("sync");
    const pairs: string[] = [];
    for (const s of syncs) pairs.push(syncJobId(jobId, s.repo), beeJobData(s, opts));
    const username = syncs[0]?.username;
    const out = await this.redis.startSync(
      this.keys.job(jobId),
      queueKey(this.prefix, "sync", "jobs"),
      queueKey(this.prefix, "sync", "waiting"),
      username ? this.keys.lock(username) : `${this.prefix}:lock:-`,
      jobId,
      syncs.length,
      now(),
      this.eventsPrefix(),
      this.keys.allEvents(),
      this.lockTtlMs,
      ...pairs,
    );
    if (out) await this.callbacks.fanOut(jobId);
    return jobFrom(out);
  }

  /**
   * Counts a repo of the job once (duplicates are no-ops); the call that
   * completes the job's total moves it to merging and enqueues the merge.
   * Calls made in the same event-loop turn for one job go to Redis as one
   * script call (the sync workers finish many repos at once).
   */
  markRepoDone(
    jobId: string,
    username: string,
    repo: string,
    outcome: "completed" | "failed",
  ): Promise<{ counted: boolean; last: boolean; readonly job: JobRecord | null }> {
    return new Promise((resolve, reject) => {
      let batch = this.fanIn.get(jobId);
      if (!batch) {
        batch = { username, items: [] };
        this.fanIn.set(jobId, batch);
        const flush = () => {
          this.fanIn.delete(jobId);
          this.flushFanIn(jobId, batch!).catch((err) => {
            for (const it of batch!.items) it.reject(err);
          });
        };
        const g = globalThis as { setImmediate?: (f: () => void) => unknown };
        if (g.setImmediate) g.setImmediate(flush);
        else setTimeout(flush, 0);
      }
      batch.items.push({ repo, outcome, resolve, reject });
    });
  }

  private readonly fanIn = new Map<string, FanInBatch>();

  private async flushFanIn(jobId: string, batch: FanInBatch): Promise<void> {
    const pairs: string[] = [];
    for (const it of batch.items) pairs.push(it.repo, it.outcome);
    const merge: MergeMessage = { job_id: jobId, username: batch.username };
    const reply = await this.redis.markReposDone(
      this.keys.job(jobId),
      this.keys.jobDone(jobId),
      queueKey(this.prefix, "merge", "jobs"),
      queueKey(this.prefix, "merge", "waiting"),
      this.keys.lock(batch.username),
      jobId,
      now(),
      mergeJobId(jobId),
      beeJobData(merge, this.queueOptions("merge")),
      this.eventsPrefix(),
      this.keys.allEvents(),
      this.lockTtlMs,
      this.jobTtlS,
      ...pairs,
    );
    const last = Number(reply[0]) === 1;
    const json = String(reply[1] ?? "");
    if (reply.slice(2).some((r) => Number(r) === 1)) await this.callbacks.fanOut(jobId);
    let lastGiven = false;
    batch.items.forEach((it, i) => {
      const counted = Number(reply[2 + i]) === 1;
      // Exactly one caller hears "last": the one whose repo completed the total.
      const isLast = last && counted && !lastGiven &&
        batch.items.slice(i + 1).every((_, j) => Number(reply[3 + i + j]) !== 1);
      if (isLast) lastGiven = true;
      it.resolve({
        counted,
        last: isLast,
        // Parsed only when asked for: the sync hot path never reads it.
        get job() {
          return json ? jobFrom(json) : null;
        },
      });
    });
  }

  /**
   * Registers a client's status-webhook receiver on a job (its first delivery
   * is the job's current state; `created`: the job as the caller created it,
   * then the current state). "full" when the job has the most receivers.
   */
  registerCallback(
    jobId: string,
    client: string,
    url: string,
    created?: JobRecord,
  ): Promise<"ok" | "full" | "missing"> {
    return this.callbacks.register(jobId, client, url, this.queueOptions("notify"), created);
  }

  /** Enqueues a job with a chosen id unless that id is already queued. */
  async enqueue(queue: QueueName, beeJobId: string, data: unknown, opts?: EnqueueOptions): Promise<boolean> {
    const n = await this.redis.enqueue(
      queueKey(this.prefix, queue, "jobs"),
      queueKey(this.prefix, queue, "waiting"),
      beeJobId,
      beeJobData(data, opts ?? this.queueOptions(queue)),
    );
    return n === 1;
  }

  async heartbeat(username: string, jobId: string): Promise<boolean> {
    return (await this.redis.heartbeatLock(this.keys.lock(username), jobId, this.lockTtlMs)) === 1;
  }

  // ---- dead-letter queue ----
  async deadLetter(entry: Omit<DlqEntry, "failed_at">): Promise<void> {
    await this.redis.lpush(this.keys.dlq(), JSON.stringify({ ...entry, failed_at: now() }));
  }

  async dlqList(limit = 100): Promise<DlqEntry[]> {
    const raw = await this.redis.lrange(this.keys.dlq(), 0, limit - 1);
    return raw.map((r) => ({ ...JSON.parse(r), raw: r }));
  }

  async dlqDepth(): Promise<number> {
    return await this.redis.llen(this.keys.dlq());
  }

  /** Puts a dead-lettered job back on its queue (under a new bee-queue id); false if already gone. */
  async dlqReplay(entry: DlqEntry & { raw?: string }): Promise<boolean> {
    const raw = entry.raw ?? (() => {
      const { raw: _r, ...rest } = entry as DlqEntry & { raw?: string };
      return JSON.stringify(rest);
    })();
    const id = `${entry.bee_job_id}:replay:${Date.now().toString(36)}`;
    const n = await this.redis.dlqReplay(
      this.keys.dlq(),
      queueKey(this.prefix, entry.queue, "jobs"),
      queueKey(this.prefix, entry.queue, "waiting"),
      raw,
      id,
      beeJobData(entry.data, this.queueOptions(entry.queue)),
    );
    return n === 1;
  }

  /**
   * Subscribes to a job's changes on a dedicated connection. The callback
   * sees every published job object; call the returned function to stop.
   */
  async subscribe(jobId: string, onJob: (job: JobRecord) => void): Promise<() => Promise<void>> {
    const sub = this.redis.duplicate();
    const channel = this.keys.jobEvents(jobId);
    sub.on("message", (ch: string, msg: string) => {
      if (ch !== channel) return;
      try {
        const job = storedJob(msg);
        if (job) onJob(job);
      } catch { /* a malformed message is not the subscriber's problem */ }
    });
    await sub.subscribe(channel);
    return async () => {
      try {
        await sub.unsubscribe(channel);
      } finally {
        sub.disconnect();
      }
    };
  }
}

export const syncJobId = (jobId: string, repo: string) => `${jobId}:${repo}`;
export const mergeJobId = (jobId: string) => `${jobId}:merge`;
