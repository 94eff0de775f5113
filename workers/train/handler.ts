/**
 * One `train` queue message → job states `training` → `trained` |
 * `training_skipped` | `training_failed`.
 *
 * Single flight per user: a Redis lock (`{prefix}:trainlock:{user}`) keeps
 * two trainings of one user apart across worker processes, and a message
 * whose content fingerprint is no longer the user's pending one
 * (`trainPending`, set by the merge worker) or current bundle's is
 * superseded and skipped. A failure is recorded as `training_failed`; the
 * bundle and the previous model are untouched (the model pointer is the last
 * write of a training).
 */
import type { Redis } from "ioredis";
import { Bundle } from "../../shared/schemas/bundle.ts";
import type { JobState, TrainMessage } from "../../shared/schemas/job.ts";
import type { BlobStore } from "../../shared/storage/types.ts";
import { readPointer } from "../../shared/bundle-store.ts";
import { redisKeys } from "../../shared/keys.ts";
import { type TrainOutcome, trainUserModel, type TrainUserModelInput } from "./train.ts";
import { jobScripts } from "../../shared/jobs/scripts.ts";
import { describeError, type JobFailure, jobFailure } from "../../shared/errors.ts";

export type Publish = (
  msg: TrainMessage,
  state: Extract<JobState, "training" | "trained" | "training_skipped" | "training_failed">,
  patch: Partial<JobFailure> & { message?: string },
) => Promise<void>;

export interface HandlerDeps {
  redis: Redis;
  store: BlobStore;
  prefix: string;
  publish: Publish;
  backend: string;
  seed?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
  /** Longest wait for another training of the same user (ms). */
  lockWaitMs?: number;
  /**
   * The training lock's value: the queue job's id, so a redelivery of a job
   * whose worker died holding the lock takes it over instead of waiting out
   * its TTL. Default: a fresh value per call.
   */
  lockToken?: string;
  /** Where a failed training's cause goes (the dead-letter queue); optional in tests. */
  deadLetter?: (
    entry: { queue: "train"; bee_job_id: string; data: unknown; error: string; job_id?: string },
  ) => Promise<void>;
  /** Test hooks passed to trainUserModel. */
  trainOverrides?: Partial<TrainUserModelInput>;
}

const LOCK_TTL_MS = 15 * 60_000;

export function trainLockKey(prefix: string, user: string): string {
  return `${prefix}:trainlock:${user.toLowerCase()}`;
}

async function acquire(redis: Redis, key: string, token: string, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if ((await redis.set(key, token, "PX", LOCK_TTL_MS, "NX")) === "OK") return true;
    // Held under our own token: an earlier delivery of this job died holding it.
    if ((await redis.get(key)) === token) {
      await redis.pexpire(key, LOCK_TTL_MS);
      return true;
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export type HandleResult = {
  state: "trained" | "training_skipped" | "training_failed";
  detail: string;
  outcome?: TrainOutcome;
};

export async function handleTrainMessage(deps: HandlerDeps, msg: TrainMessage): Promise<HandleResult> {
  const { redis, store, publish } = deps;
  const log = deps.log ?? (() => {});
  const keys = redisKeys(deps.prefix);
  const user = msg.username.toLowerCase();

  const superseded = async (): Promise<string | null> => {
    const pendingRaw = await redis.get(keys.trainPending(user));
    if (pendingRaw) {
      try {
        const pending = JSON.parse(pendingRaw) as TrainMessage;
        if (pending.content_fingerprint !== msg.content_fingerprint) {
          return `superseded by a newer bundle (content ${pending.content_fingerprint.slice(0, 12)})`;
        }
      } catch { /* unreadable marker: ignore */ }
    }
    const ptr = await readPointer(store, user);
    if (ptr && ptr.pointer.content_fingerprint !== msg.content_fingerprint) {
      return `superseded: the current bundle has content ${ptr.pointer.content_fingerprint.slice(0, 12)}`;
    }
    return null;
  };

  const skip = async (why: string): Promise<HandleResult> => {
    await publish(msg, "training_skipped", { message: why });
    log(`training skipped for ${user}: ${why}`, { job_id: msg.job_id });
    return { state: "training_skipped", detail: why };
  };

  let why = await superseded();
  if (why) return skip(why);

  const lockKey = trainLockKey(deps.prefix, user);
  const token = deps.lockToken ?? crypto.randomUUID();
  if (!(await acquire(redis, lockKey, token, deps.lockWaitMs ?? 10 * 60_000))) {
    return skip("another training of this user is still running");
  }
  try {
    why = await superseded();
    if (why) return await skip(why);
    await publish(msg, "training", { message: `training on ${deps.backend}` });
    const obj = await store.get(msg.bundle_key);
    if (!obj) throw new Error(`bundle ${msg.bundle_key} not found`);
    const bundle = Bundle.parse(JSON.parse(new TextDecoder().decode(obj.data)));
    const outcome = await trainUserModel({
      bundle,
      store,
      backend: deps.backend,
      seed: deps.seed,
      log: (m) => log(m, { job_id: msg.job_id }),
      ...(deps.trainOverrides ?? {}),
    });
    if (outcome.status === "trained") {
      await publish(msg, "trained", { message: outcome.message });
      log(`trained ${user}: ${outcome.message}`, {
        job_id: msg.job_id,
        backend: deps.backend,
        train_ms: outcome.train_ms,
      });
      return { state: "trained", detail: outcome.message, outcome };
    }
    await publish(msg, "training_skipped", { message: outcome.reason });
    log(`training skipped for ${user}: ${outcome.reason}`, { job_id: msg.job_id });
    return { state: "training_skipped", detail: outcome.reason, outcome };
  } catch (err) {
    // Logs and the DLQ get the redacted message; the job (public) also loses paths and addresses.
    const error = describeError(err);
    log(`training failed for ${user}: ${error}`, { job_id: msg.job_id });
    await publish(msg, "training_failed", {
      ...jobFailure(err, "training_failed"),
      message: "training failed; the previous model keeps serving",
    })
      .catch(() => {});
    await deps.deadLetter?.({
      queue: "train",
      bee_job_id: `${user.toLowerCase()}:${msg.content_fingerprint}`,
      data: msg,
      error,
      job_id: msg.job_id,
    }).catch(() => {});
    return { state: "training_failed", detail: error };
  } finally {
    const scripted = jobScripts(redis);
    await scripted.releaseIfOwner(lockKey, token).catch(() => {});
    // Our message was the pending one: clear it (compare-and-delete).
    await scripted.releaseIfOwner(keys.trainPending(user), JSON.stringify(msg)).catch(() => {});
  }
}
