/**
 * Every job's changes, on one Redis pub/sub connection per gateway instance
 * (the all-events channel): feeds metrics and the pointer cache.
 */
import type { Redis } from "ioredis";
import { type JobStore, storedJob } from "../shared/jobs/job-store.ts";
import type { JobRecord } from "../shared/schemas/job.ts";

export type JobListener = (job: JobRecord) => void;

export interface JobFeed {
  on(listener: JobListener): () => void;
  stop(): Promise<void>;
}

export async function startJobFeed(redis: Redis, jobs: JobStore): Promise<JobFeed> {
  const listeners = new Set<JobListener>();
  const sub = redis.duplicate();
  const channel = jobs.keys.allEvents();
  sub.on("error", () => {});
  sub.on("message", (_ch: string, msg: string) => {
    let job: JobRecord;
    try {
      job = storedJob(msg)!;
    } catch {
      return;
    }
    for (const l of listeners) {
      try {
        l(job);
      } catch { /* one listener's fault is not the others' */ }
    }
  });
  await sub.subscribe(channel);
  return {
    on(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async stop() {
      try {
        await sub.unsubscribe(channel);
      } catch { /* closing anyway */ }
      sub.disconnect();
    },
  };
}
