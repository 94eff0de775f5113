/**
 * One Redis subscriber connection shared by every event stream of a gateway
 * instance: per-job channels are SUBSCRIBEd while at least one stream
 * follows the job and UNSUBSCRIBEd after the last leaves. Same contract as
 * JobStore.subscribe (resolves once the subscription is active, so a read
 * after it cannot miss a change), without one Redis connection per browser.
 * Commands on one connection run in order, so an UNSUBSCRIBE followed by a
 * new SUBSCRIBE of the same channel always ends subscribed. ioredis
 * re-subscribes after a reconnect.
 */
import type { Redis } from "ioredis";
import { type JobStore, storedJob } from "../shared/jobs/job-store.ts";
import type { JobRecord } from "../shared/schemas/job.ts";

type Listener = (job: JobRecord) => void;
interface Channel {
  listeners: Set<Listener>;
  ready: Promise<unknown>;
}

export class JobEventsHub {
  private sub: Redis;
  private channels = new Map<string, Channel>();

  constructor(redis: Redis, private jobs: JobStore) {
    this.sub = redis.duplicate();
    this.sub.on("error", () => {});
    this.sub.on("message", (ch: string, msg: string) => {
      const c = this.channels.get(ch);
      if (!c) return;
      let job: JobRecord;
      try {
        job = storedJob(msg)!;
      } catch {
        return;
      }
      for (const l of c.listeners) {
        try {
          l(job);
        } catch { /* one stream's fault is not the others' */ }
      }
    });
  }

  /** Channels currently subscribed (tests, metrics). */
  get size(): number {
    return this.channels.size;
  }

  subscribe = async (jobId: string, onJob: Listener): Promise<() => Promise<void>> => {
    const ch = this.jobs.keys.jobEvents(jobId);
    let c = this.channels.get(ch);
    if (!c) {
      c = { listeners: new Set(), ready: this.sub.subscribe(ch) };
      this.channels.set(ch, c);
    }
    const entry = c;
    entry.listeners.add(onJob);
    const leave = async () => {
      entry.listeners.delete(onJob);
      if (entry.listeners.size === 0 && this.channels.get(ch) === entry) {
        this.channels.delete(ch);
        await this.sub.unsubscribe(ch).catch(() => {});
      }
    };
    try {
      await entry.ready;
    } catch (err) {
      await leave();
      throw err;
    }
    return leave;
  };

  close(): void {
    this.channels.clear();
    this.sub.disconnect();
  }
}
