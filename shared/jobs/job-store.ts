import type { Redis } from "ioredis";
import type { Config } from "../config.ts";
import { redisKeys } from "../keys.ts";
import { isRepoName, isUsername } from "../schemas/names.ts";
import {
  JOB_ERROR_CODES,
  JOB_STATES,
  JobRecord,
  type JobState,
  type MergeMessage,
  type PlanMessage,
  type Progress,
  progressOf,
  type SyncBatchMessage,
  type SyncJobMessage,
  type TrainMessage,
} from "../schemas/job.ts";
import { beeJobData, type EnqueueOptions, queueKey, type QueueName } from "./queue-names.ts";
import { type Channels, type JobScripts, jobScripts } from "./scripts.ts";
import { CallbackRegistry } from "../webhooks/callbacks.ts";

export interface JobStoreOptions {
  prefix?: string;
  /** Cadence of the workers' heartbeats on the jobs they hold (a third of it). */
  lockTtlMs?: number;
  /** A job in flight with no sign of life for this long is failed by the watchdog. */
  jobStuckMs?: number;
  /** How long job records are kept after their last change. */
  jobTtlS?: number;
  /** Retries for transient faults before the DLQ. */
  retries?: number;
  /** Status webhook deliveries: retries before the DLQ, and the backoff base (ms). */
  notifyRetries?: number;
  notifyBackoffMs?: number;
}

/** The JobStore settings the configuration gives, the same for the gateway and every worker. */
export function jobStoreOptions(
  cfg: Pick<
    Config,
    "QUEUE_PREFIX" | "LOCK_TTL_MS" | "JOB_STUCK_MS" | "JOB_RETRIES" | "NOTIFY_RETRIES" | "NOTIFY_BACKOFF_MS"
  >,
): JobStoreOptions {
  return {
    prefix: cfg.QUEUE_PREFIX,
    lockTtlMs: cfg.LOCK_TTL_MS,
    jobStuckMs: cfg.JOB_STUCK_MS,
    retries: cfg.JOB_RETRIES,
    notifyRetries: cfg.NOTIFY_RETRIES,
    notifyBackoffMs: cfg.NOTIFY_BACKOFF_MS,
  };
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
/** What the user's hashes remember about a synced repo: its GitHub fingerprint, ETag / file-id fields to set and delete. */
export interface RepoMemory {
  fingerprint: string;
  /** Field, value, field, value… of the user's ETag / file-id hash. */
  set: string[];
  del: string[];
}
/** A repo whose record is stored, and what its user's hashes are to remember of it. */
export interface StoredRepo {
  repo: string;
  remember: RepoMemory;
}
interface FanInBatch {
  username: string;
  items: {
    repo: string;
    outcome: "completed" | "failed";
    remember?: RepoMemory;
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
  if (optStr(raw.error_code)) {
    if (!Object.hasOwn(JOB_ERROR_CODES, raw.error_code)) throw new Error("not a job record");
    job.error_code = raw.error_code;
  }
  if (optStr(raw.message)) job.message = raw.message;
  if (optStr(raw.bundle_fingerprint)) job.bundle_fingerprint = raw.bundle_fingerprint;
  return job;
}

/**
 * The job-state layer: job records, progress, the per-user refresh lock and
 * every enqueue that must be atomic with a state change (each state change
 * queues its status-webhook deliveries in the same script). Each operation is
 * one named Lua script (shared/jobs/lua). Used by the gateway (Deno) and the
 * workers (Bun).
 */
export class JobStore {
  readonly redis: Redis;
  readonly scripts: JobScripts;
  readonly prefix: string;
  readonly keys: ReturnType<typeof redisKeys>;
  readonly lockTtlMs: number;
  readonly jobStuckMs: number;
  readonly jobTtlS: number;
  readonly retries: number;
  readonly notifyRetries: number;
  readonly notifyBackoffMs: number;
  /** Status-webhook receivers of each job (shared/webhooks/callbacks.ts). */
  readonly callbacks: CallbackRegistry;

  constructor(redis: Redis, opts: JobStoreOptions = {}) {
    this.redis = redis;
    this.scripts = jobScripts(redis);
    this.prefix = opts.prefix ?? "fs";
    this.keys = redisKeys(this.prefix);
    this.lockTtlMs = opts.lockTtlMs ?? 120_000;
    this.jobStuckMs = opts.jobStuckMs ?? 30 * 60_000;
    this.jobTtlS = opts.jobTtlS ?? 7 * 24 * 3600;
    this.retries = opts.retries ?? 5;
    this.notifyRetries = opts.notifyRetries ?? 6;
    this.notifyBackoffMs = opts.notifyBackoffMs ?? 1000;
    this.callbacks = new CallbackRegistry(redis, this.prefix, this.jobTtlS);
  }

  /** Where every state change goes, in the script that stores it: events channels and status-webhook receivers. */
  private channels(): Channels {
    return {
      events: `${this.prefix}:events:`,
      all_events: this.keys.allEvents(),
      notify: this.callbacks.notifyQueue(),
    };
  }

  private jobKeys(jobId: string, username: string | undefined) {
    return {
      job: this.keys.job(jobId),
      lock: username ? this.keys.lock(username) : `${this.prefix}:lock:-`,
      inflight: this.keys.inflight(),
    };
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
    const keys = {
      lock: this.keys.lock(input.username),
      job: this.keys.job(jobId),
      planJobs: queueKey(this.prefix, "plan", "jobs"),
      planWaiting: queueKey(this.prefix, "plan", "waiting"),
      rate: this.keys.rateLimit("refresh", rate?.client ?? "-", Math.floor(Date.now() / windowMs)),
      inflight: this.keys.inflight(),
    };
    const base = {
      window_ms: windowMs,
      job_key_prefix: `${this.prefix}:job:`,
      stuck_ms: this.jobStuckMs,
      ...this.channels(),
    };
    // Step 1, a peek (see request-refresh-6.lua): the rate and a job in flight, with small arguments.
    let reply = await this.scripts.requestRefresh(keys, { ...base, limit: rate?.limit ?? 0, now: now() });
    let record: Omit<JobRecord, "progress"> | undefined;
    if (reply.kind === "none") {
      // Step 2, only when nothing is in flight: the new job (the rate was counted by the peek).
      const t = now();
      record = {
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
      reply = await this.scripts.requestRefresh(keys, {
        ...base,
        limit: 0,
        now: t,
        new: { job: record, plan_data: beeJobData(plan, this.queueOptions("plan")), job_ttl_s: this.jobTtlS },
      });
    }
    if (reply.kind === "limited") {
      return { limited: { retryAfterS: Math.max(1, Math.ceil(reply.retryAfterMs / 1000)) } };
    }
    if (reply.kind === "none") throw new Error("request-refresh: no job created and none in flight");
    const created = reply.kind === "created" && reply.jobId === jobId;
    const id = reply.jobId;
    const joinedJson = reply.kind === "joined" ? reply.json : "";
    const fresh = record;
    // The job object is built only when a caller reads it (the refresh route needs the id only).
    let job: JobRecord | undefined;
    return {
      jobId: id,
      created,
      get job() {
        return (job ??= created && fresh ? storedJob(JSON.stringify(fresh), [0, 0, 0])! : storedJob(joinedJson)!);
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
   * Moves a job to `state` (merging `patch` into it), publishes it and queues
   * it for the job's status-webhook receivers, in one atomic step.
   * `from` restricts the allowed previous states; by default any
   * non-terminal state. Returns null when the move was not allowed.
   */
  async setState(
    jobId: string,
    username: string,
    state: JobState,
    patch: Partial<Pick<JobRecord, "error" | "error_code" | "message" | "bundle_fingerprint">> = {},
    from: JobState[] = [],
  ): Promise<JobRecord | null> {
    const out = await this.scripts.setState(this.jobKeys(jobId, username), {
      job_id: jobId,
      state,
      patch,
      now: now(),
      from,
      ...this.channels(),
    });
    return jobFrom(out);
  }

  /**
   * The merge's last step, atomic: merging → completed with `patch`, the
   * merge counted (per job, kept as long as the job record), and
   * the training it owes (if any) marked pending and queued as `trainJobId`.
   * Null when the job is no longer merging: another delivery's merge took
   * effect, or the watchdog failed the job.
   */
  async completeMerge(
    jobId: string,
    username: string,
    patch: Partial<Pick<JobRecord, "message" | "bundle_fingerprint">>,
    train?: { beeJobId: string; message: TrainMessage },
  ): Promise<JobRecord | null> {
    const out = await this.scripts.completeMerge({
      ...this.jobKeys(jobId, username),
      mergeCount: this.keys.counter(`merge:${jobId}`),
      trainPending: this.keys.trainPending(username),
      trainJobs: queueKey(this.prefix, "train", "jobs"),
      trainWaiting: queueKey(this.prefix, "train", "waiting"),
    }, {
      job_id: jobId,
      patch,
      now: now(),
      counter_ttl_s: this.jobTtlS,
      ...(train
        ? {
          train: {
            id: train.beeJobId,
            data: beeJobData(train.message, this.queueOptions("train")),
            pending: JSON.stringify(train.message),
          },
        }
        : {}),
      ...this.channels(),
    });
    return jobFrom(out);
  }

  /**
   * Plan's commit, one atomic step: records the total, counts the repos plan
   * synced itself (`done`, their records stored; their remembered fields
   * written as the fan-in writes them), and enqueues a sync job for every
   * other repo. When `done` holds every repo, the job goes on to merging and
   * its merge is enqueued in the same step. Repos are counted by lower-cased
   * name: one named twice is synced and counted once.
   */
  async startSync(
    jobId: string,
    username: string,
    syncs: SyncJobMessage[],
    done: StoredRepo[] = [],
  ): Promise<JobRecord | null> {
    const opts = this.queueOptions("sync");
    const merge: MergeMessage = { job_id: jobId, username };
    const out = await this.scripts.startSync({
      ...this.jobKeys(jobId, username),
      syncJobs: queueKey(this.prefix, "sync", "jobs"),
      syncWaiting: queueKey(this.prefix, "sync", "waiting"),
      done: this.keys.jobDone(jobId),
      mergeJobs: queueKey(this.prefix, "merge", "jobs"),
      mergeWaiting: queueKey(this.prefix, "merge", "waiting"),
      fingerprints: this.keys.fingerprints(username),
      etags: this.keys.etags(username),
    }, {
      job_id: jobId,
      now: now(),
      job_ttl_s: this.jobTtlS,
      merge_id: mergeJobId(jobId),
      merge_data: beeJobData(merge, this.queueOptions("merge")),
      syncs: syncs.map((s) =>
        "repos" in s
          ? { id: syncBatchJobId(jobId, s), repos: s.repos.map((r) => r.repo), data: beeJobData(s, opts) }
          : { id: syncJobId(jobId, s.repo), repos: [s.repo], data: beeJobData(s, opts) }
      ),
      done: done.map((d) => [d.repo, "completed", d.remember.fingerprint, d.remember.set, d.remember.del]),
      ...this.channels(),
    });
    return jobFrom(out);
  }

  /**
   * Counts a repo of the job once (duplicates are no-ops); the call that
   * completes the job's total moves it to merging and enqueues the merge.
   * `remember`: the repo's GitHub fingerprint and ETag / file-id fields,
   * written to the user's hashes in the same step, before the repo counts.
   * Calls made in the same event-loop turn for one job go to Redis as one
   * script call (the sync workers finish many repos at once).
   */
  markRepoDone(
    jobId: string,
    username: string,
    repo: string,
    outcome: "completed" | "failed",
    remember?: RepoMemory,
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
      batch.items.push({ repo, outcome, remember, resolve, reject });
    });
  }

  private readonly fanIn = new Map<string, FanInBatch>();

  private async flushFanIn(jobId: string, batch: FanInBatch): Promise<void> {
    const merge: MergeMessage = { job_id: jobId, username: batch.username };
    const reply = await this.scripts.markReposDone(
      {
        ...this.jobKeys(jobId, batch.username),
        done: this.keys.jobDone(jobId),
        mergeJobs: queueKey(this.prefix, "merge", "jobs"),
        mergeWaiting: queueKey(this.prefix, "merge", "waiting"),
        fingerprints: this.keys.fingerprints(batch.username),
        etags: this.keys.etags(batch.username),
      },
      {
        job_id: jobId,
        now: now(),
        merge_id: mergeJobId(jobId),
        merge_data: beeJobData(merge, this.queueOptions("merge")),
        job_ttl_s: this.jobTtlS,
        done: batch.items.map((it) =>
          it.remember
            ? [it.repo, it.outcome, it.remember.fingerprint, it.remember.set, it.remember.del]
            : [it.repo, it.outcome]
        ),
        ...this.channels(),
      },
    );
    const json = reply.json;
    // Exactly one caller hears "last": the last counted entry of the call that completed the total.
    const lastCounted = reply.last ? reply.counted.lastIndexOf(true) : -1;
    batch.items.forEach((it, i) => {
      it.resolve({
        counted: reply.counted[i],
        last: i === lastCounted,
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
    return await this.scripts.enqueue(
      { jobs: queueKey(this.prefix, queue, "jobs"), waiting: queueKey(this.prefix, queue, "waiting") },
      beeJobId,
      beeJobData(data, opts ?? this.queueOptions(queue)),
    );
  }

  /** A worker's sign of life on a job it holds (the watchdog leaves it alone). */
  async heartbeat(username: string, jobId: string): Promise<boolean> {
    return await this.scripts.touchJob(this.jobKeys(jobId, username), jobId);
  }

  /**
   * The watchdog: fails every watched job (queued … merging, training) with no
   * sign of life for `jobStuckMs`, with the reason, its lock released, the
   * change published and queued for its receivers. Returns the jobs it failed.
   */
  async failStuckJobs(limit = 100): Promise<JobRecord[]> {
    const out = await this.scripts.failStuck({ inflight: this.keys.inflight() }, {
      stuck_ms: this.jobStuckMs,
      job_key_prefix: `${this.prefix}:job:`,
      lock_key_prefix: `${this.prefix}:lock:`,
      now: now(),
      limit,
      ...this.channels(),
    });
    return out.map((json) => storedJob(json)!).filter(Boolean);
  }

  /**
   * Counts one delivery of a bee-queue job and returns how many earlier
   * deliveries never finished (stalls: the process died or hung holding it).
   * bee-queue requeues a stalled job without limit; the workers dead-letter
   * it once this reaches MAX_STALLS.
   */
  async beginDelivery(queue: QueueName, beeJobId: string): Promise<number> {
    const key = this.keys.deliveries(queue, beeJobId);
    const res = await this.redis.multi().incr(key).expire(key, this.jobTtlS).exec();
    return Math.max(0, Number(res?.[0]?.[1] ?? 1) - 1);
  }

  /** The delivery ended (done, failed or handed back for a retry): it was not a stall. */
  async endDelivery(queue: QueueName, beeJobId: string, handled: boolean): Promise<void> {
    const key = this.keys.deliveries(queue, beeJobId);
    if (handled) await this.redis.del(key);
    else await this.redis.decr(key);
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
    return await this.scripts.dlqReplay(
      {
        dlq: this.keys.dlq(),
        jobs: queueKey(this.prefix, entry.queue, "jobs"),
        waiting: queueKey(this.prefix, entry.queue, "waiting"),
      },
      raw,
      id,
      beeJobData(entry.data, this.queueOptions(entry.queue)),
    );
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
/** A batch's id: its first repo and its size ("+" is in no repo name). */
export const syncBatchJobId = (jobId: string, b: SyncBatchMessage) => `${jobId}:${b.repos[0].repo}+${b.repos.length}`;
export const mergeJobId = (jobId: string) => `${jobId}:merge`;
