/**
 * Status-webhook receivers, per job and per client. A client that asks for a
 * refresh with a `callback_url` registers one receiver on the job — also when
 * its request joins a job already in flight — and every registered receiver
 * gets every state change of the job, in order. The script that stores a
 * state queues its deliveries in the same atomic step
 * (shared/jobs/lua/includes/deliveries.lua), and the notify worker turns each
 * receiver's list into signed POSTs, head first. Receivers live in Redis beside
 * the job (never in the job object, which status polls and event streams show
 * to anyone):
 *   {prefix}:job:{id}:cb            hash receiver id → callback URL
 *   {prefix}:job:{id}:cb:{rid}      hash: its notify message, last state queued, seq
 *   {prefix}:job:{id}:cb:{rid}:q    list: its pending deliveries, head first
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { jobKeyPart } from "../keys.ts";
import { beeJobData, type EnqueueOptions, queueKey } from "../jobs/queue-names.ts";
import { type JobScripts, jobScripts, type NotifyQueue } from "../jobs/scripts.ts";
import type { JobRecord, JobState } from "../schemas/job.ts";

/** Most receivers on one job: a refresh that would add one more is refused (429). */
export const MAX_RECEIVERS_PER_JOB = 5;

/** Least time between two progress deliveries to one receiver. */
export const PROGRESS_INTERVAL_MS = 1000;

/** One pending delivery: the job as it was when queued. */
export interface PendingDelivery {
  seq: number;
  state: JobState;
  /** The job's stored json and counters (build the job object with storedJob). */
  json: string;
  total: number;
  completed: number;
  failed: number;
}

/** The notify queue's message: which receiver of which job has a head to deliver. */
export interface NotifyTarget {
  job_id: string;
  receiver: string;
}

const RID_RE = /^[0-9a-f]{16}$/;

/** A receiver id from the client's identity (stable: a client re-registering replaces its URL). */
export function receiverId(client: string): string {
  return createHash("sha256").update(client).digest("hex").slice(0, 16);
}

/** The delivery id a receiver sees in X-Foliosync-Delivery: unique per delivery, the same across its retries. */
export function deliveryId(jobId: string, receiver: string, seq: number): string {
  return `${jobId}.${receiver}.${seq}`;
}

export class CallbackRegistry {
  private readonly scripts: JobScripts;
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlS: number) {
    this.scripts = jobScripts(redis);
  }

  private receiversKey(jobId: string) {
    return `${this.prefix}:job:${jobKeyPart(jobId)}:cb`;
  }
  private metaKey(jobId: string, rid: string) {
    if (!RID_RE.test(rid)) throw new Error("malformed receiver id");
    return `${this.receiversKey(jobId)}:${rid}`;
  }
  private notifyKeys() {
    return {
      notifyJobs: queueKey(this.prefix, "notify", "jobs"),
      notifyWaiting: queueKey(this.prefix, "notify", "waiting"),
    };
  }

  /** What every state-changing script needs to queue the job's deliveries (includes/deliveries.lua). */
  notifyQueue(): NotifyQueue {
    const k = this.notifyKeys();
    return { jobs: k.notifyJobs, waiting: k.notifyWaiting, interval_ms: PROGRESS_INTERVAL_MS, ttl_s: this.ttlS };
  }

  /**
   * Registers `client`'s receiver on the job and, in the same atomic step,
   * queues its first deliveries: `created` (the job as the caller just created
   * it, so the creator's receiver hears `queued` even when a worker has moved
   * the job on already), then the job's current state. "full" when the job has
   * the most receivers already; "missing" when the job does not exist.
   */
  async register(
    jobId: string,
    client: string,
    url: string,
    opts: EnqueueOptions,
    created?: JobRecord,
  ): Promise<"ok" | "full" | "missing"> {
    const rid = receiverId(client);
    const message: NotifyTarget = { job_id: jobId, receiver: rid };
    const n = await this.scripts.callbackRegister(
      { receivers: this.receiversKey(jobId), job: `${this.prefix}:job:${jobKeyPart(jobId)}` },
      {
        receiver: rid,
        url,
        max_receivers: MAX_RECEIVERS_PER_JOB,
        notify_data: beeJobData(message, opts),
        as_of: created ? JSON.stringify(created) : "",
        notify: this.notifyQueue(),
      },
    );
    if (n === -1) return "missing";
    if (n === 0) return "full";
    return "ok";
  }

  /** The receiver's URL and its head delivery, or null when nothing is pending. */
  async head(jobId: string, rid: string): Promise<{ url: string; delivery: PendingDelivery } | null> {
    const meta = this.metaKey(jobId, rid);
    const [url, head] = await Promise.all([
      this.redis.hget(this.receiversKey(jobId), rid),
      this.redis.lindex(`${meta}:q`, 0),
    ]);
    if (!url || !head) return null;
    return { url, delivery: JSON.parse(head) as PendingDelivery };
  }

  /** The head delivery `seq` is over (delivered or dead-lettered): the next one gets its turn. */
  async advance(jobId: string, rid: string, seq: number): Promise<boolean> {
    const meta = this.metaKey(jobId, rid);
    return await this.scripts.callbackAdvance(
      { list: `${meta}:q`, ...this.notifyKeys() },
      { seq, notify_id_prefix: `${jobId}:${rid}:`, meta },
    );
  }

  /** The states waiting for a client's receiver, head first (tests, operators). */
  async pendingStates(jobId: string, client: string): Promise<JobState[]> {
    const list = await this.redis.lrange(`${this.metaKey(jobId, receiverId(client))}:q`, 0, -1);
    return list.map((item) => (JSON.parse(item) as PendingDelivery).state);
  }

  /** Receiver count of a job (tests, metrics). */
  async count(jobId: string): Promise<number> {
    return await this.redis.hlen(this.receiversKey(jobId));
  }
}
