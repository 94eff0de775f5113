/**
 * Every job's changes, on one Redis pub/sub connection per gateway instance:
 * - `on`: state changes (the all-events channel, parsed) — metrics and the
 *   bundle-pointer cache;
 * - `onChange`: the id of any job that changed in any way, progress ticks
 *   included (a pattern subscription to the per-job channels, not parsed) —
 *   the job-status cache drops its entry;
 * - `onReset` and `live`: while the connection is down changes go unseen, so
 *   caches that rely on `onChange` are emptied when it drops and do not fill
 *   until it is back.
 */
import type { Redis } from "ioredis";
import { type JobStore, storedJob } from "../shared/jobs/job-store.ts";
import type { JobRecord } from "../shared/schemas/job.ts";

export type JobListener = (job: JobRecord) => void;

export interface JobFeed {
  on(listener: JobListener): () => void;
  onChange(listener: (jobId: string) => void): () => void;
  onReset(listener: () => void): () => void;
  /** True while both subscriptions are active: a change made now will be seen. */
  readonly live: boolean;
  stop(): Promise<void>;
}

function callEach<A>(listeners: Set<(a: A) => void>, a: A) {
  for (const l of listeners) {
    try {
      l(a);
    } catch { /* one listener's fault is not the others' */ }
  }
}

export async function startJobFeed(redis: Redis, jobs: JobStore): Promise<JobFeed> {
  const listeners = new Set<JobListener>();
  const changeListeners = new Set<(jobId: string) => void>();
  const resetListeners = new Set<() => void>();
  const sub = redis.duplicate();
  const channel = jobs.keys.allEvents();
  // Per-job channels are `${channel}:${jobId}` (shared/keys.ts).
  const jobChannels = `${channel}:*`;
  let live = false;
  let stopped = false;
  sub.on("error", () => {});
  sub.on("message", (_ch: string, msg: string) => {
    let job: JobRecord;
    try {
      job = storedJob(msg)!;
    } catch {
      return;
    }
    callEach(listeners, job);
  });
  sub.on("pmessage", (_pattern: string, ch: string) => {
    callEach(changeListeners, ch.slice(channel.length + 1));
  });
  sub.on("close", () => {
    live = false;
    callEach(resetListeners, undefined);
  });
  // ioredis re-subscribes both after a reconnect (sent when it is ready, in
  // order); live again once Redis confirms a pattern subscription sent after
  // those — a repeated PSUBSCRIBE is harmless.
  let started = false;
  sub.on("ready", () => {
    if (!started || stopped) return;
    sub.psubscribe(jobChannels).then(() => {
      if (!stopped && sub.status === "ready") live = true;
    }, () => {});
  });
  await sub.subscribe(channel);
  await sub.psubscribe(jobChannels);
  started = true;
  live = true;
  return {
    on(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    onChange(l) {
      changeListeners.add(l);
      return () => changeListeners.delete(l);
    },
    onReset(l) {
      resetListeners.add(l);
      return () => resetListeners.delete(l);
    },
    get live() {
      return live;
    },
    async stop() {
      stopped = true;
      live = false;
      try {
        await sub.unsubscribe(channel);
        await sub.punsubscribe(jobChannels);
      } catch { /* closing anyway */ }
      sub.disconnect();
    },
  };
}
