import { readdirSync, readFileSync } from "node:fs";
import type { Redis } from "ioredis";

/**
 * The one loader for every atomic Redis operation: each `lua/<name>-<numKeys>.lua`
 * becomes an ioredis command `<camelName>` (EVALSHA with EVAL fallback), with
 * its `--- @include "<file>"` lines replaced by the named file of `lua/`
 * (`.lua` optional), each include inlined once per script. Scripts are called
 * only through the typed wrappers of `jobScripts`.
 */
const luaDir = new URL("./lua/", import.meta.url);
const INCLUDE_RE = /^--- @include "([a-z0-9/_-]+?)(?:\.lua)?"\s*$/gm;

export interface LuaScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

/** A script's source with its includes inlined (each once; a cycle is an error). */
export function resolveIncludes(source: string, seen = new Set<string>(), stack: string[] = []): string {
  return source.replace(INCLUDE_RE, (_, file: string) => {
    if (stack.includes(file)) throw new Error(`lua include cycle: ${[...stack, file].join(" → ")}`);
    if (seen.has(file)) return `-- (${file} already included)`;
    seen.add(file);
    const text = readFileSync(new URL(`${file}.lua`, luaDir), "utf8");
    return `-- begin include ${file}\n${resolveIncludes(text, seen, [...stack, file])}\n-- end include ${file}`;
  });
}

let cached: LuaScript[] | undefined;
export function luaScripts(): LuaScript[] {
  if (cached) return cached;
  cached = readdirSync(luaDir)
    .filter((f) => f.endsWith(".lua"))
    .map((file) => {
      const m = file.match(/^([a-z0-9-]+)-(\d+)\.lua$/);
      if (!m) throw new Error(`lua file not named <name>-<numKeys>.lua: ${file}`);
      const name = m[1].replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
      const lua = resolveIncludes(readFileSync(new URL(file, luaDir), "utf8"));
      return { name, numberOfKeys: Number(m[2]), lua };
    });
  return cached;
}

const loaded = new WeakSet<Redis>();
/** Defines every script on the client once. */
function defineScripts(redis: Redis): void {
  if (loaded.has(redis)) return;
  for (const s of luaScripts()) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  loaded.add(redis);
}

type Arg = string | number;
type Raw = (...args: Arg[]) => Promise<unknown>;
const raw = (redis: Redis, name: string): Raw => {
  const fn = (redis as unknown as Record<string, Raw>)[name];
  if (typeof fn !== "function") throw new Error(`lua script ${name} is not loaded`);
  return fn.bind(redis);
};

/** The events channels a state change is published on. */
export interface Channels {
  /** Channel prefix of one job's events ("fs:events:"). */
  events: string;
  /** The all-jobs channel ("fs:events"). */
  all_events: string;
}

export interface RequestRefreshArgs extends Channels {
  /** Requests per client per window (0: none). */
  limit: number;
  window_ms: number;
  job_key_prefix: string;
  stuck_ms: number;
  now: string;
  /** Absent: a peek. */
  new?: { job: Record<string, unknown>; plan_data: string; job_ttl_s: number };
}
export type RequestRefreshReply =
  | { kind: "limited"; retryAfterMs: number }
  | { kind: "joined"; jobId: string; json: string }
  | { kind: "created"; jobId: string; failedJson: string }
  | { kind: "none"; failedJson: string };

export interface SetStateArgs extends Channels {
  job_id: string;
  state: string;
  patch: Record<string, unknown>;
  now: string;
  /** Allowed previous states; empty: any non-terminal state. */
  from: string[];
}

export interface StartSyncArgs extends Channels {
  job_id: string;
  now: string;
  syncs: { id: string; repo: string; data: string }[];
}

export interface MarkReposDoneArgs extends Channels {
  job_id: string;
  now: string;
  merge_id: string;
  merge_data: string;
  job_ttl_s: number;
  done: [repo: string, outcome: "completed" | "failed"][];
}
export interface MarkReposDoneReply {
  last: boolean;
  /** The published job json, "" when nothing was published. */
  json: string;
  counted: boolean[];
}

export interface FailStuckArgs extends Channels {
  stuck_ms: number;
  job_key_prefix: string;
  lock_key_prefix: string;
  now: string;
  limit: number;
}

/** The typed wrapper of every Lua script (KEYS by name, long argument lists as one JSON argument). */
export interface JobScripts {
  requestRefresh(
    k: { lock: string; job: string; planJobs: string; planWaiting: string; rate: string; inflight: string },
    a: RequestRefreshArgs,
  ): Promise<RequestRefreshReply>;
  setState(k: { job: string; lock: string; inflight: string }, a: SetStateArgs): Promise<string | null>;
  startSync(
    k: { job: string; syncJobs: string; syncWaiting: string; lock: string; inflight: string },
    a: StartSyncArgs,
  ): Promise<string | null>;
  markReposDone(
    k: { job: string; done: string; mergeJobs: string; mergeWaiting: string; lock: string; inflight: string },
    a: MarkReposDoneArgs,
  ): Promise<MarkReposDoneReply>;
  touchJob(k: { job: string; lock: string; inflight: string }, jobId: string): Promise<boolean>;
  failStuck(k: { inflight: string }, a: FailStuckArgs): Promise<string[]>;
  enqueue(k: { jobs: string; waiting: string }, id: string, data: string): Promise<boolean>;
  dlqReplay(
    k: { dlq: string; jobs: string; waiting: string },
    entry: string,
    id: string,
    data: string,
  ): Promise<boolean>;
  releaseIfOwner(key: string, expected: string): Promise<boolean>;
  /** 1 registered, 0 the job has the most receivers, -1 no such job (callback-register-2.lua). */
  callbackRegister(k: { receivers: string; job: string }, a: CallbackRegisterArgs): Promise<number>;
  /** Deliveries queued or merged (callback-fanout-4.lua). */
  callbackFanout(
    k: { receivers: string; job: string; notifyJobs: string; notifyWaiting: string },
    a: CallbackFanoutArgs,
  ): Promise<number>;
  /** Whether the head was dropped (callback-advance-3.lua). */
  callbackAdvance(
    k: { list: string; notifyJobs: string; notifyWaiting: string },
    a: { seq: number; notify_id_prefix: string; meta: string },
  ): Promise<boolean>;
}

export interface CallbackRegisterArgs {
  receiver: string;
  url: string;
  max_receivers: number;
  meta: string;
  notify_data: string;
  ttl_s: number;
}

export interface CallbackFanoutArgs {
  job_id: string;
  receiver_prefix: string;
  now_ms: number;
  progress_interval_ms: number;
  ttl_s: number;
  /** "" = every receiver. */
  only: string;
  /** "" = the stored job. */
  as_of: string;
}

const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));

/** The typed wrappers over one client (scripts defined on it once). */
export function jobScripts(redis: Redis): JobScripts {
  defineScripts(redis);
  const r = {
    requestRefresh: raw(redis, "requestRefresh"),
    setState: raw(redis, "setState"),
    startSync: raw(redis, "startSync"),
    markReposDone: raw(redis, "markReposDone"),
    touchJob: raw(redis, "touchJob"),
    failStuck: raw(redis, "failStuck"),
    enqueue: raw(redis, "enqueue"),
    dlqReplay: raw(redis, "dlqReplay"),
    releaseIfOwner: raw(redis, "releaseIfOwner"),
    callbackRegister: raw(redis, "callbackRegister"),
    callbackFanout: raw(redis, "callbackFanout"),
    callbackAdvance: raw(redis, "callbackAdvance"),
  };
  return {
    async requestRefresh(k, a) {
      const reply = (await r.requestRefresh(
        k.lock,
        k.job,
        k.planJobs,
        k.planWaiting,
        k.rate,
        k.inflight,
        JSON.stringify(a),
      )) as unknown[];
      switch (Number(reply[0])) {
        case -1:
          return { kind: "limited", retryAfterMs: Number(reply[1]) };
        case 0:
          return { kind: "joined", jobId: str(reply[1]), json: str(reply[2]) };
        case 1:
          return { kind: "created", jobId: str(reply[1]), failedJson: str(reply[2]) };
        default:
          return { kind: "none", failedJson: str(reply[1]) };
      }
    },
    async setState(k, a) {
      const out = await r.setState(k.job, k.lock, k.inflight, JSON.stringify(a));
      return out ? String(out) : null;
    },
    async startSync(k, a) {
      const out = await r.startSync(k.job, k.syncJobs, k.syncWaiting, k.lock, k.inflight, JSON.stringify(a));
      return out ? String(out) : null;
    },
    async markReposDone(k, a) {
      const reply = (await r.markReposDone(
        k.job,
        k.done,
        k.mergeJobs,
        k.mergeWaiting,
        k.lock,
        k.inflight,
        JSON.stringify(a),
      )) as unknown[];
      return {
        last: Number(reply[0]) === 1,
        json: str(reply[1]),
        counted: a.done.map((_, i) => Number(reply[2 + i]) === 1),
      };
    },
    async touchJob(k, jobId) {
      return Number(await r.touchJob(k.job, k.lock, k.inflight, jobId)) === 1;
    },
    async failStuck(k, a) {
      return ((await r.failStuck(k.inflight, JSON.stringify(a))) as unknown[]).map(str);
    },
    async enqueue(k, id, data) {
      return Number(await r.enqueue(k.jobs, k.waiting, id, data)) === 1;
    },
    async dlqReplay(k, entry, id, data) {
      return Number(await r.dlqReplay(k.dlq, k.jobs, k.waiting, entry, id, data)) === 1;
    },
    async releaseIfOwner(key, expected) {
      return Number(await r.releaseIfOwner(key, expected)) === 1;
    },
    async callbackRegister(k, a) {
      return Number(await r.callbackRegister(k.receivers, k.job, JSON.stringify(a)));
    },
    async callbackFanout(k, a) {
      return Number(await r.callbackFanout(k.receivers, k.job, k.notifyJobs, k.notifyWaiting, JSON.stringify(a)));
    },
    async callbackAdvance(k, a) {
      return Number(await r.callbackAdvance(k.list, k.notifyJobs, k.notifyWaiting, JSON.stringify(a))) === 1;
    },
  };
}
