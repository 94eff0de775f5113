import type BeeQueue from "bee-queue";
import type { z } from "zod";
import { decideAfterFailure, describeError, type JobFailure, jobFailure, StalledError } from "../shared/errors.ts";
import type { QueueName } from "../shared/jobs/queue-names.ts";
import {
  MergeMessage,
  NotifyMessage,
  PlanMessage,
  type SyncBatchMessage,
  SyncJobMessage,
  type SyncMessage,
} from "../shared/schemas/job.ts";
import { syncJobId } from "../shared/jobs/job-store.ts";
import type { WorkerContext } from "./context.ts";
import { inSpan, SpanKind, traceOf } from "../shared/telemetry.ts";
import { waitingOutRateLimits } from "./github/rate-wait.ts";
import { runMerge } from "./merge.ts";
import { deliverStatusWebhook, statusWebhookGaveUp } from "./notify.ts";
import { runPlan } from "./plan.ts";
import type { JobOutcome } from "./metrics.ts";
import { createQueue, guardDelivery, STALL_INTERVAL_MS, watchStalls } from "./queues.ts";
import { syncRepo } from "./sync.ts";

export { STALL_INTERVAL_MS };

export const ROLES = ["plan", "sync", "merge", "notify"] as const;
export type Role = (typeof ROLES)[number];

/** The steps of one role; its queue, message schema and concurrency setting are defineRole's arguments. */
interface RoleSteps<S extends z.ZodTypeAny> {
  run: (ctx: WorkerContext, msg: z.infer<S>) => Promise<unknown>;
  /** Called once when an attempt fails for good (non-retriable, out of retries, or stalled too often). */
  onFinalFailure: (ctx: WorkerContext, msg: z.infer<S>, failure: JobFailure) => Promise<void>;
  /** The user whose refresh lock to keep alive while working. */
  lockOf?: (msg: z.infer<S>) => { username: string; job_id: string };
}

type ConcurrencySetting = "PLAN_CONCURRENCY" | "SYNC_CONCURRENCY" | "MERGE_CONCURRENCY" | "NOTIFY_CONCURRENCY";

/** One role's message, validated and bound to the role's steps: what `handle` runs. */
interface BoundMessage {
  run(): Promise<unknown>;
  onFinalFailure(failure: JobFailure): Promise<void>;
  lock?: { username: string; job_id: string };
  jobId?: string;
}

/** A role with its message type erased: the schema's parse binds the message to the steps. */
interface RoleRunner {
  queue: QueueName;
  concurrency: (ctx: WorkerContext) => number;
  bind(ctx: WorkerContext, data: unknown): { ok: true; message: BoundMessage } | { ok: false; error: string };
}

/** Keeps each role's message type between its schema and its steps, then erases it for the table. */
function defineRole<S extends z.ZodTypeAny>(
  queue: QueueName,
  schema: S,
  concurrency: ConcurrencySetting,
  spec: RoleSteps<S>,
): RoleRunner {
  return {
    queue,
    concurrency: (ctx) => ctx.cfg[concurrency],
    bind(ctx, data) {
      const parsed = schema.safeParse(data);
      if (!parsed.success) return { ok: false, error: parsed.error.message };
      const msg: z.infer<S> = parsed.data;
      return {
        ok: true,
        message: {
          run: () => spec.run(ctx, msg),
          onFinalFailure: (failure) => spec.onFinalFailure(ctx, msg, failure),
          lock: spec.lockOf?.(msg),
          jobId: (msg as { job_id?: string }).job_id,
        },
      };
    },
  };
}

/** A step failed for good: the job fails with its error and error_code (after `what`, when given). */
const failJob = (what = "") => async (c: WorkerContext, m: { job_id: string; username: string }, f: JobFailure) => {
  await c.jobs.setState(m.job_id, m.username, "failed", { ...f, error: what + f.error });
};

const specs: { [R in Role]: RoleRunner } = {
  plan: defineRole("plan", PlanMessage, "PLAN_CONCURRENCY", {
    run: (c, m) => runPlan(c, m),
    onFinalFailure: failJob(),
    lockOf: (m) => m,
  }),
  sync: defineRole("sync", SyncJobMessage, "SYNC_CONCURRENCY", {
    run: async (c, m) => {
      if ("repos" in m) return await syncBatch(c, m);
      await syncAndCount(c, m);
    },
    // One broken repo never blocks a bundle: it counts as failed and the
    // merge keeps its previous record.
    onFinalFailure: async (c, m) => {
      for (const r of "repos" in m ? m.repos : [m]) await c.jobs.markRepoDone(r.job_id, r.username, r.repo, "failed");
    },
    lockOf: (m) => m,
  }),
  merge: defineRole("merge", MergeMessage, "MERGE_CONCURRENCY", {
    run: (c, m) => runMerge(c, m),
    onFinalFailure: failJob("merge failed: "),
    lockOf: (m) => m,
  }),
  notify: defineRole("notify", NotifyMessage, "NOTIFY_CONCURRENCY", {
    run: (c, m) => deliverStatusWebhook(c, m),
    onFinalFailure: (c, m) => statusWebhookGaveUp(c, m),
  }),
};

/** One repo's sync job: the record stored, then the repo counted with what its user's hashes remember. */
async function syncAndCount(ctx: WorkerContext, m: SyncMessage): Promise<void> {
  const { remember } = await syncRepo(ctx, m);
  ctx.metrics.recordStored("sync");
  await ctx.jobs.markRepoDone(m.job_id, m.username, m.repo, "completed", remember);
}

/**
 * A batch of repos (SyncBatchMessage), each synced and counted on its own, at
 * once. A repo that fails goes on as a sync job of its own, with the retries,
 * rate-limit waits and dead-lettering any sync job has; the batch then is
 * done. Only when that hand-over fails does the batch fail (and run again:
 * its repos that were done are written and counted again, harmlessly).
 */
async function syncBatch(ctx: WorkerContext, batch: SyncBatchMessage): Promise<void> {
  const failed: SyncMessage[] = [];
  await Promise.all(batch.repos.map(async (m) => {
    try {
      // Each repo is traced as one repo's job is: a "sync" span continuing the batch's trace (handle opens none).
      const span = { parent: traceOf(batch), jobId: batch.job_id, kind: SpanKind.CONSUMER };
      await inSpan("sync", { ...span, attributes: { "messaging.destination.name": "sync" } }, async () => {
        await syncAndCount(ctx, m);
      });
    } catch (err) {
      ctx.log.info(`sync: ${m.repo} failed in its batch, going on as a job of its own: ${describeError(err)}`);
      failed.push(m);
    }
  }));
  for (const m of failed) await ctx.jobs.enqueue("sync", syncJobId(m.job_id, m.repo), m);
}

/**
 * Runs one bee-queue job with foliosync's retry policy (decideAfterFailure in
 * shared/errors.ts): a rate limit is waited out; a NonRetriableError or the
 * last allowed attempt → dead-letter queue + the role's final-failure step,
 * and the bee-queue job resolves (it is handled); any other error is rethrown
 * so bee-queue retries it with the shared full-jitter backoff.
 */
export function handle(ctx: WorkerContext, role: Role, job: BeeQueue.Job<unknown>): Promise<unknown> {
  // A batch of repos gets a span per repo (syncBatch), as if each were a job of its own.
  if (role === "sync" && Array.isArray((job.data as { repos?: unknown } | null)?.repos)) {
    return handleJob(ctx, role, job);
  }
  // A span continuing the trace the message carries; its job id reaches every log line.
  const jobId = (job.data as { job_id?: unknown } | null)?.job_id;
  return inSpan(role, {
    parent: traceOf(job.data),
    jobId: typeof jobId === "string" ? jobId : undefined,
    kind: SpanKind.CONSUMER,
    attributes: { "messaging.destination.name": specs[role].queue, "messaging.message.id": String(job.id) },
  }, () => handleJob(ctx, role, job));
}

async function handleJob(ctx: WorkerContext, role: Role, job: BeeQueue.Job<unknown>): Promise<unknown> {
  const spec = specs[role];
  const started = performance.now();
  const observe = (outcome: JobOutcome) => ctx.metrics.job(role, outcome, (performance.now() - started) / 1000);
  ctx.metrics.queueWaited(role, (job.options as { timestamp?: number }).timestamp);
  const bound = spec.bind(ctx, job.data);
  if (!bound.ok) {
    observe("malformed");
    await ctx.jobs.deadLetter({
      queue: spec.queue,
      bee_job_id: String(job.id),
      data: job.data,
      error: `malformed message: ${bound.error}`,
    });
    return;
  }
  const msg = bound.message;
  const beeJobId = String(job.id);
  const deadLetter = (error: string) =>
    ctx.jobs.deadLetter({ queue: spec.queue, bee_job_id: beeJobId, data: job.data, error, job_id: msg.jobId });
  return await guardDelivery(
    ctx.jobs,
    spec.queue,
    beeJobId,
    ctx.cfg.MAX_STALLS,
    async (reason) => {
      ctx.log.warn(`${role} dead-lettered: ${reason}`, { bee_job_id: job.id });
      await deadLetter(reason);
      await msg.onFinalFailure(jobFailure(new StalledError(reason)));
      observe("failed");
    },
    () => runAttempt(ctx, role, job, msg, deadLetter, observe),
  );
}

async function runAttempt(
  ctx: WorkerContext,
  role: Role,
  job: BeeQueue.Job<unknown>,
  msg: BoundMessage,
  deadLetter: (error: string) => Promise<void>,
  observe: (outcome: JobOutcome) => void,
): Promise<unknown> {
  const lock = msg.lock;
  // A held job is alive: the heartbeat keeps the watchdog off it.
  const beat = lock
    ? setInterval(
      () => ctx.jobs.heartbeat(lock.username, lock.job_id).catch(() => {}),
      Math.max(1000, ctx.cfg.LOCK_TTL_MS / 3),
    )
    : undefined;
  try {
    const result = await waitingOutRateLimits(() => msg.run(), { log: (m) => ctx.log.warn(`${role}: ${m}`) });
    observe("ok");
    return result;
  } catch (err) {
    const retriesLeft = (job.options as { retries?: number }).retries ?? 0;
    const { action, reason } = decideAfterFailure(err, { retriesLeft, waitsLeft: 0 });
    if (action === "dead-letter") {
      ctx.log.warn(`${role} failed for good: ${reason}`, { bee_job_id: job.id });
      await deadLetter(reason);
      // The job shows what is safe to show (no URL path, file path or address) and the code of the error's class.
      await msg.onFinalFailure(jobFailure(err));
      observe("failed");
      return;
    }
    ctx.log.info(`${role} attempt failed, will retry: ${reason}`, { bee_job_id: job.id });
    observe("retry");
    throw err;
  } finally {
    if (beat) clearInterval(beat);
  }
}

/** How often each worker process runs the watchdog: a quarter of JOB_STUCK_MS, within 1–60 s. */
export const watchdogIntervalMs = (jobStuckMs: number) => Math.max(1000, Math.min(60_000, Math.floor(jobStuckMs / 4)));

/** One watchdog pass: fails the jobs with no sign of life for JOB_STUCK_MS (see JobStore.failStuckJobs). */
export async function runWatchdog(ctx: WorkerContext): Promise<number> {
  const failed = await ctx.jobs.failStuckJobs();
  for (const j of failed) ctx.log.warn(`watchdog: ${j.error}`, { job_id: j.job_id, user: j.username });
  return failed.length;
}

export interface RunningRoles {
  queues: BeeQueue[];
  stop(timeoutMs?: number): Promise<void>;
}

/** Starts the given roles' consumers in this process. */
export function startRoles(ctx: WorkerContext, roles: readonly Role[]): RunningRoles {
  const queues = roles.map((role) => {
    const q = createQueue(ctx.cfg, specs[role].queue, true);
    q.process(specs[role].concurrency(ctx), (job: BeeQueue.Job<unknown>) => handle(ctx, role, job));
    // Jobs held by a crashed worker go back to waiting after ~2 stall intervals.
    watchStalls(q);
    return q;
  });
  const watchdog = setInterval(() => {
    runWatchdog(ctx).catch((err) => ctx.log.warn(`watchdog pass failed: ${describeError(err)}`));
  }, watchdogIntervalMs(ctx.cfg.JOB_STUCK_MS));
  return {
    queues,
    async stop(timeoutMs = 5_000) {
      clearInterval(watchdog);
      await Promise.all(queues.map((q) => q.close(timeoutMs).catch(() => {})));
    },
  };
}
