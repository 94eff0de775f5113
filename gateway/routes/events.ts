/**
 * GET /api/bundles/{u}/events?job_id=[&until=terminal] → text/event-stream.
 *
 * - Subscribes to the job's channel (Redis pub/sub, so a change made through
 *   any gateway or worker arrives here) BEFORE reading the current state, so
 *   no change can fall between the read and the subscription.
 * - First event: the current job. Then one event per change, each the full
 *   job object as `data:` (unnamed events: EventSource `onmessage`), with an
 *   increasing `id:`. Changes that arrived while the current state was read,
 *   and duplicates, are dropped: an event is sent only when it is newer than
 *   the last one sent (state order, then repos done, then updated_at).
 * - A `: ping` comment every 15 s keeps proxies from closing the stream.
 * - The stream ends after the first FINAL state (completed, fresh, failed, or
 *   a training outcome). With `until=terminal` it stays open after
 *   `completed` until training ends (trained / training_skipped /
 *   training_failed), for a page that wants to show the model too.
 *   EventSource clients must close() on the final event: the browser would
 *   otherwise reconnect (and get the final state again, then end again).
 * - The subscription is dropped when the client disconnects, and the stream
 *   ends when its job no longer exists (checked with every heartbeat).
 * - At most MAX_STREAMS_PER_CLIENT streams per client are open at once on
 *   one gateway instance (429 beyond).
 * 400/404 (and 401/403 under READ_ACCESS=key) exactly as for status.
 */
import type { AppContext, RouteApp } from "../context.ts";
import { FINAL_STATES, type JobRecord, type JobState, TERMINAL_STATES } from "../../shared/schemas/job.ts";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { HttpError, requireJobId, requireUsername } from "../http.ts";
import { loadUserJob } from "./status.ts";

const RANK: Record<JobState, number> = {
  queued: 0,
  planning: 1,
  syncing: 2,
  merging: 3,
  completed: 4,
  training: 5,
  trained: 6,
  training_skipped: 6,
  training_failed: 6,
  fresh: 6,
  failed: 6,
};

/** -1, 0, 1: is a older than, the same as, or newer than b. */
export function compareJobs(a: JobRecord, b: JobRecord): number {
  const parts: [number | string, number | string][] = [
    [RANK[a.state], RANK[b.state]],
    [a.progress.completed + a.progress.failed, b.progress.completed + b.progress.failed],
    [a.progress.total, b.progress.total],
    [a.updated_at, b.updated_at],
  ];
  for (const [x, y] of parts) {
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

export function eventRoutes(app: RouteApp, ctx: AppContext) {
  /** Open streams per client on this instance. */
  const openPerClient = new Map<string, number>();
  const maxPerClient = ctx.config.MAX_STREAMS_PER_CLIENT;

  app.handle("events", async (c) => {
    const username = requireUsername(c.req.param("username"));
    const jobId = requireJobId(c);
    const client = ctx.auth.client(c, username);
    const opened = openPerClient.get(client.id) ?? 0;
    if (opened >= maxPerClient) {
      throw new HttpError(429, "too_many_streams", `at most ${maxPerClient} event streams per client at once`, {
        "retry-after": "5",
      });
    }
    // Counted from here; released exactly once by cleanup (or by a failed start below).
    openPerClient.set(client.id, opened + 1);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      const n = (openPerClient.get(client.id) ?? 1) - 1;
      if (n <= 0) openPerClient.delete(client.id);
      else openPerClient.set(client.id, n);
    };
    const stopAt = c.req.query("until") === "terminal" ? TERMINAL_STATES : FINAL_STATES;

    let ready = false;
    let closed = false;
    let last: JobRecord | null = null;
    let seq = 0;
    const early: JobRecord[] = [];
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    let maxTimer: ReturnType<typeof setTimeout> | undefined;
    let unsubscribe: (() => Promise<void>) | null = null;

    let sse: SSEStreamingApi | null = null;
    /** Resolves when the stream is over: Hono's streamSSE closes the response when its callback returns. */
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => (finish = resolve));
    /** The last event's write: the stream closes after it (writeSSE writes a tick after it is called). */
    let lastWrite: Promise<unknown> = Promise.resolve();

    const cleanup = () => {
      release();
      if (closed) return;
      closed = true;
      if (heartbeat !== undefined) clearInterval(heartbeat);
      if (maxTimer !== undefined) clearTimeout(maxTimer);
      ctx.metrics.sseClosed();
      unsubscribe?.().catch(() => {});
      lastWrite.then(finish);
    };

    /** What writeSSE cannot frame: a `retry:` field alone, a `: ping` comment. */
    const write = (text: string) => {
      if (closed || !sse) return;
      // A failed write means the client is gone.
      sse.write(text).catch(cleanup);
    };

    const send = (job: JobRecord) => {
      if (closed) return;
      if (last && compareJobs(job, last) <= 0) return;
      last = job;
      // The merge swapped the pointer before `completed` was published: drop the cached one
      // before the client can ask for the bundle.
      if (FINAL_STATES.has(job.state)) ctx.pointers.invalidate(username);
      // Likewise the job's cached status: a poll after this event reads Redis.
      ctx.jobCache.drop(job.job_id);
      // Hono frames the event; a failed write means the client is gone.
      if (sse) lastWrite = sse.writeSSE({ id: String(++seq), data: JSON.stringify(job) }).catch(cleanup);
      if (stopAt.has(job.state)) cleanup();
    };

    let current: JobRecord;
    try {
      unsubscribe = await ctx.subscribe(jobId, (job) => {
        if (ready) send(job);
        else early.push(job);
      });
      current = await loadUserJob(ctx, username, jobId);
    } catch (err) {
      closed = true;
      release();
      await unsubscribe?.().catch(() => {});
      throw err;
    }
    ctx.metrics.sseOpened();

    c.header("cache-control", "no-store");
    c.header("x-accel-buffering", "no");
    const res = streamSSE(c, async (stream) => {
      sse = stream;
      // A client disconnect aborts the stream.
      stream.onAbort(cleanup);
      write("retry: 3000\n\n");
      send(current);
      ready = true;
      for (const job of early.splice(0)) send(job);
      if (!closed) {
        heartbeat = setInterval(() => {
          write(": ping\n\n");
          // A job that expired or was removed will never change again: end its stream.
          ctx.jobs.get(jobId).then((j) => {
            if (!j) cleanup();
          }, () => {});
        }, ctx.heartbeatMs);
        maxTimer = setTimeout(cleanup, ctx.maxStreamMs);
      }
      await finished;
    });
    // streamSSE sets no-cache; an event stream is never stored.
    res.headers.set("cache-control", "no-store");
    return res;
  });
}
