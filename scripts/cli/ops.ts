/**
 * The operator commands that read Redis and storage directly (the gateway
 * exposes no admin API): the dead-letter queue, queue depths and workers,
 * and model versions. Configuration comes from the same environment the
 * workers read (shared/config.ts): REDIS_URL, QUEUE_PREFIX, STORAGE_*.
 */
import { Redis } from "ioredis";
import { type Config, loadConfig, processEnv } from "../../shared/config.ts";
import { JobStore, jobStoreOptions } from "../../shared/jobs/job-store.ts";
import { queueKey, type QueueName, QUEUES } from "../../shared/jobs/queue-names.ts";
import { type ModelPointer, promoteModel, readModelPointer } from "../../shared/ranking/model-store.ts";
import { storageKeys } from "../../shared/keys.ts";
import { isUsername } from "../../shared/schemas/names.ts";
import { createStore } from "../../shared/storage/index.ts";
import type { BlobStore } from "../../shared/storage/types.ts";
import { listWorkers, type WorkerPresence } from "../../shared/worker-presence.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { clean, truncate } from "./render.ts";

export function config(overrides: Record<string, string | undefined> = {}): Config {
  try {
    const env = { ...processEnv() };
    for (const [k, v] of Object.entries(overrides)) if (v !== undefined) env[k] = v;
    return loadConfig(env);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.USAGE);
  }
}

/** Runs `f` with a Redis connection that fails fast (no endless reconnects), then closes it. */
export async function withRedis<T>(cfg: Config, f: (redis: Redis, jobs: JobStore) => Promise<T>): Promise<T> {
  const redis = new Redis(cfg.REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: () => null,
  });
  redis.on("error", () => {}); // reported by the command that fails
  try {
    try {
      await redis.connect();
    } catch {
      // The URL may hold a password: only its host is named.
      throw new CliError(`Redis at ${redisHost(cfg.REDIS_URL)} unreachable`, EXIT.UNAVAILABLE);
    }
    return await f(redis, new JobStore(redis, jobStoreOptions(cfg)));
  } finally {
    redis.disconnect();
  }
}

function redisHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 6379}`;
  } catch {
    return "(REDIS_URL)";
  }
}

export function requireQueue(q: string | undefined): QueueName | undefined {
  if (q === undefined) return undefined;
  if (!(QUEUES as readonly string[]).includes(q)) {
    throw new CliError(`--queue must be one of ${QUEUES.join(", ")}`, EXIT.USAGE);
  }
  return q as QueueName;
}

export function requireUser(u: string): string {
  if (!isUsername(u)) {
    throw new CliError(`${JSON.stringify(truncate(clean(u), 60))} is not a GitHub username`, EXIT.USAGE);
  }
  return u;
}

// ---- dead-letter queue ----

export interface DlqRow {
  /** Position in the whole DLQ, newest first: what `dlq replay <index>` takes. */
  index: number;
  queue: string;
  bee_job_id: string;
  job_id?: string;
  error: string;
  failed_at: string;
}

const DLQ_SCAN = 10_000;

export async function dlqRows(jobs: JobStore, queue?: QueueName, limit = 50) {
  const entries = await jobs.dlqList(DLQ_SCAN);
  const rows = entries
    .map((e, index) => ({ e, index }))
    .filter(({ e }) => !queue || e.queue === queue);
  return {
    total: entries.length,
    rows: rows.slice(0, limit).map(({ e, index }): DlqRow => ({
      index,
      queue: e.queue,
      bee_job_id: e.bee_job_id,
      ...(e.job_id ? { job_id: e.job_id } : {}),
      error: truncate(clean(e.error), 500),
      failed_at: e.failed_at,
    })),
    entries: rows,
  };
}

export async function dlqDepths(jobs: JobStore): Promise<Record<string, number>> {
  const entries = await jobs.dlqList(DLQ_SCAN);
  const out: Record<string, number> = Object.fromEntries(QUEUES.map((q) => [q, 0]));
  for (const e of entries) out[e.queue] = (out[e.queue] ?? 0) + 1;
  return out;
}

// ---- queues and workers ----

export interface QueueDepth {
  queue: QueueName;
  waiting: number;
  active: number;
  delayed: number;
  dead: number;
}

export async function queueDepths(redis: Redis, jobs: JobStore, prefix: string): Promise<QueueDepth[]> {
  const dead = await dlqDepths(jobs);
  const pipe = redis.pipeline();
  for (const q of QUEUES) {
    pipe.llen(queueKey(prefix, q, "waiting"));
    pipe.llen(queueKey(prefix, q, "active"));
    pipe.zcard(queueKey(prefix, q, "delayed"));
  }
  const res = (await pipe.exec()) ?? [];
  const n = (i: number) => Number(res[i]?.[1] ?? 0);
  return QUEUES.map((queue, i) => ({
    queue,
    waiting: n(i * 3),
    active: n(i * 3 + 1),
    delayed: n(i * 3 + 2),
    dead: dead[queue] ?? 0,
  }));
}

export interface GithubQuota {
  limit: number;
  remaining: number;
  used: number;
  /** ISO time the quota resets. */
  reset: string;
}

/**
 * The GitHub quota of the token the workers use (GET /rate_limit, which
 * does not count against it). null when GitHub does not answer; the token
 * is sent only to GITHUB_API_URL and never printed.
 */
export async function githubQuota(cfg: Config, timeoutMs = 5_000): Promise<GithubQuota | null> {
  try {
    const res = await fetch(cfg.GITHUB_API_URL.replace(/\/+$/, "") + "/rate_limit", {
      headers: {
        accept: "application/vnd.github+json",
        "user-agent": "foliosync-cli",
        ...(cfg.GITHUB_TOKEN ? { authorization: `Bearer ${cfg.GITHUB_TOKEN}` } : {}),
      },
      redirect: "error",
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    const core = ((await res.json()) as { resources?: { core?: Record<string, unknown> } })?.resources?.core;
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : NaN);
    const q = {
      limit: num(core?.limit),
      remaining: num(core?.remaining),
      used: num(core?.used),
      reset: num(core?.reset),
    };
    if (Object.values(q).some(Number.isNaN)) return null;
    return { ...q, reset: new Date(q.reset * 1000).toISOString() };
  } catch {
    return null;
  }
}

export { listWorkers, type WorkerPresence };

// ---- models ----

export interface ModelVersion {
  version: string;
  current: boolean;
  backend: string;
  trained_at: string;
  /** Fused held-out MRR measured at training time, when recorded. */
  mrr?: number;
  prefix: string;
}

export async function withStore<T>(cfg: Config, f: (store: BlobStore) => Promise<T>): Promise<T> {
  let store: BlobStore;
  try {
    store = await createStore(cfg);
  } catch (err) {
    throw new CliError(`storage: ${truncate(clean((err as Error).message), 200)}`, EXIT.USAGE);
  }
  try {
    return await f(store);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `storage (${cfg.STORAGE_BACKEND}): ${truncate(clean((err as Error).message), 200)}`,
      EXIT.UNAVAILABLE,
    );
  } finally {
    await store.close?.().catch(() => {});
  }
}

const dec = new TextDecoder();

/** Every stored model version of a user (newest first) and which one is current. */
export async function modelVersions(store: BlobStore, user: string): Promise<ModelVersion[]> {
  const prefix = storageKeys.modelCurrent(user).replace(/current\.json$/, "");
  const keys = (await store.list(prefix)).filter((k) => /^[^/]+\/[^/]+\/[a-f0-9]{8,128}\/model\.json$/.test(k));
  const cur = await readModelPointer(store, user);
  const out: ModelVersion[] = [];
  for (const key of keys) {
    const version = key.split("/")[2];
    const obj = await store.get(key);
    if (!obj) continue;
    let meta: Record<string, unknown> = {};
    try {
      meta = JSON.parse(dec.decode(obj.data))?.userDefinedMetadata ?? {};
    } catch { /* an unreadable manifest is listed with what is known */ }
    const metrics = meta.metrics as { mrr?: unknown; held_out?: { mrr?: unknown } } | undefined;
    const mrr = typeof metrics?.mrr === "number"
      ? metrics.mrr
      : typeof metrics?.held_out?.mrr === "number"
      ? metrics.held_out.mrr
      : undefined;
    out.push({
      version,
      current: cur?.pointer.content_fingerprint === version,
      backend: typeof meta.backend === "string" ? clean(meta.backend) : "?",
      trained_at: typeof meta.trained_at === "string" ? clean(meta.trained_at) : "",
      ...(mrr !== undefined ? { mrr } : {}),
      prefix: key.slice(0, -"model.json".length),
    });
  }
  return out.sort((a, b) => b.trained_at.localeCompare(a.trained_at) || a.version.localeCompare(b.version));
}

/**
 * Points `models/{user}/current.json` at another stored version (conditional
 * on the pointer read, so a training promoting at the same moment is not
 * overwritten). Without `version`: the newest version trained before the
 * current one. The AI service picks the change up on its next pointer check.
 */
export async function rollbackModel(
  store: BlobStore,
  user: string,
  version?: string,
): Promise<{ from: string | null; to: string; changed: boolean }> {
  if (version !== undefined && !/^[a-f0-9]{8,128}$/.test(version)) {
    throw new CliError("a model version is a content fingerprint (hex, from `model list`)", EXIT.USAGE);
  }
  const versions = await modelVersions(store, user);
  const cur = await readModelPointer(store, user);
  const from = cur?.pointer.content_fingerprint ?? null;
  let target: ModelVersion | undefined;
  if (version) {
    target = versions.find((v) => v.version === version);
    if (!target) throw new CliError(`no model version ${version} for ${user}`, EXIT.NOT_FOUND);
  } else {
    const current = versions.find((v) => v.current);
    target = versions.find((v) => !v.current && (!current || v.trained_at <= current.trained_at));
    if (!target) throw new CliError(`no earlier model version of ${user} to roll back to`, EXIT.NOT_FOUND);
  }
  if (target.version === from) return { from, to: target.version, changed: false };
  const pointer: ModelPointer = {
    username: user.toLowerCase(),
    content_fingerprint: target.version,
    prefix: target.prefix,
    backend: target.backend,
    trained_at: target.trained_at,
    metrics: { rolled_back_from: from, rolled_back_at: new Date().toISOString() },
  };
  const ok = await promoteModel(store, pointer, cur?.version ?? null);
  if (!ok) {
    throw new CliError("the current model changed meanwhile (a training promoted one); nothing changed", EXIT.CONFLICT);
  }
  return { from, to: target.version, changed: true };
}
