/**
 * Job records for GET /status, kept between changes: a client polling a job
 * that has not changed since its last poll is answered without a Redis round
 * trip. Correct across gateway instances because every change of a job is
 * published on its channel (the Lua scripts publish in the same atomic step
 * as the write) and the job feed (job-feed.ts) delivers those to every
 * instance, which then *drops* the entry — the next poll reads Redis again.
 * Dropping (never updating from a message) keeps it right whatever order
 * messages of several connections arrive in:
 * - a read in flight when a change is seen is not cached (it may predate
 *   the change);
 * - a read sent after a change was seen returns that change or a newer one
 *   (Redis wrote before it published);
 * - while the feed's connection is down nothing is cached and everything is
 *   dropped when it goes (changes could pass unseen);
 * - entries live at most `ttlMs` (default 5 s) as a last bound, e.g. for a
 *   record that expired in Redis.
 * Event streams of this instance drop the job too before they send a change,
 * so a browser that saw `completed` never polls an older state from here.
 * Unknown jobs are not cached. Concurrent misses for one job share one read.
 */
import type { JobRecord } from "../shared/schemas/job.ts";

export interface CachedJob {
  job: JobRecord;
  /** The 200 body, serialized once. */
  body: string;
}

interface Entry extends CachedJob {
  at: number;
}

export interface JobCacheOptions {
  /** 0 turns the cache off (every get reads). */
  ttlMs?: number;
  maxEntries?: number;
  /** Whether changes are being seen right now (JobFeed.live); nothing is stored while false. */
  live?: () => boolean;
}

export class JobCache {
  private entries = new Map<string, Entry>();
  private loading = new Map<string, { p: Promise<CachedJob | null>; dropped: boolean }>();
  private ttlMs: number;
  private maxEntries: number;
  private live: () => boolean;

  constructor(private read: (jobId: string) => Promise<JobRecord | null>, opts: JobCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5000;
    this.maxEntries = opts.maxEntries ?? 50_000;
    this.live = opts.live ?? (() => true);
  }

  get size(): number {
    return this.entries.size;
  }

  get(jobId: string): Promise<CachedJob | null> {
    if (this.ttlMs <= 0) return this.read(jobId).then(toCached);
    const e = this.entries.get(jobId);
    if (e) {
      if (performance.now() - e.at < this.ttlMs) return Promise.resolve(e);
      this.entries.delete(jobId);
    }
    const pending = this.loading.get(jobId);
    if (pending) return pending.p;
    const load = {
      dropped: !this.live(),
      p: this.read(jobId).then((job) => {
        const out = toCached(job);
        if (out && !load.dropped && this.live()) this.store(jobId, out);
        return out;
      }).finally(() => {
        if (this.loading.get(jobId) === load) this.loading.delete(jobId);
      }),
    };
    this.loading.set(jobId, load);
    return load.p;
  }

  /** The job changed: forget it, and do not keep a read that was in flight. */
  drop(jobId: string) {
    this.entries.delete(jobId);
    const pending = this.loading.get(jobId);
    if (pending) {
      pending.dropped = true;
      this.loading.delete(jobId);
    }
  }

  /** Changes may have gone unseen: forget everything. */
  clear() {
    this.entries.clear();
    for (const l of this.loading.values()) l.dropped = true;
    this.loading.clear();
  }

  private store(jobId: string, c: CachedJob) {
    if (this.entries.size >= this.maxEntries) {
      // Oldest first (insertion order).
      const first = this.entries.keys().next().value;
      if (first !== undefined) this.entries.delete(first);
    }
    this.entries.set(jobId, { ...c, at: performance.now() });
  }
}

function toCached(job: JobRecord | null): CachedJob | null {
  return job ? { job, body: JSON.stringify(job) } : null;
}
