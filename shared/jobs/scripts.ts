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

/** The notify queue and delivery rules a state change queues its status-webhook deliveries by (includes/deliveries.lua). */
export interface NotifyQueue {
  /** The notify queue's bee-queue jobs hash and waiting list. */
  jobs: string;
  waiting: string;
  /** Least time between two progress deliveries to one receiver. */
  interval_ms: number;
  /** Lifetime of a receiver's list and meta. */
  ttl_s: number;
}

/** Where a state change goes, in the script that stores it: the events channels and the job's receivers. */
export interface Channels {
  /** Channel prefix of one job's events ("fs:events:"). */
  events: string;
  /** The all-jobs channel ("fs:events"). */
  all_events: string;
  notify: NotifyQueue;
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

export interface CompleteMergeArgs extends Channels {
  job_id: string;
  patch: Record<string, unknown>;
  now: string;
  counter_ttl_s: number;
  /** The training the merge owes: its queue job id and data, and the user's pending marker. */
  train?: { id: string; data: string; pending: string };
}

/** A repo counted done by the fan-in (includes/fan-in.lua), with what the user's hashes remember about it. */
export type RepoDoneEntry =
  | [repo: string, outcome: "completed" | "failed"]
  | [repo: string, outcome: "completed" | "failed", fingerprint: string, set: string[], del: string[]];

export interface StartSyncArgs extends Channels {
  job_id: string;
  now: string;
  job_ttl_s: number;
  merge_id: string;
  merge_data: string;
  syncs: { id: string; repos: string[]; data: string }[];
  /** Repos plan synced itself (in no sync job). */
  done: RepoDoneEntry[];
}

export interface MarkReposDoneArgs extends Channels {
  job_id: string;
  now: string;
  merge_id: string;
  merge_data: string;
  job_ttl_s: number;
  done: RepoDoneEntry[];
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
  completeMerge(
    k: {
      job: string;
      lock: string;
      inflight: string;
      mergeCount: string;
      trainPending: string;
      trainJobs: string;
      trainWaiting: string;
    },
    a: CompleteMergeArgs,
  ): Promise<string | null>;
  startSync(
    k: {
      job: string;
      syncJobs: string;
      syncWaiting: string;
      lock: string;
      inflight: string;
      done: string;
      mergeJobs: string;
      mergeWaiting: string;
      fingerprints: string;
      etags: string;
    },
    a: StartSyncArgs,
  ): Promise<string | null>;
  markReposDone(
    k: {
      job: string;
      done: string;
      mergeJobs: string;
      mergeWaiting: string;
      lock: string;
      inflight: string;
      fingerprints: string;
      etags: string;
    },
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
  /** The receiver's notify message (bee-queue job data). */
  notify_data: string;
  /** The job as its creator created it, queued first ("" = none). */
  as_of: string;
  notify: NotifyQueue;
}

/**
 * Each script's KEYS by name, in the order of its Lua header: the one place a
 * wrapper's named keys become positional ones.
 */
const KEY_ORDER = {
  requestRefresh: ["lock", "job", "planJobs", "planWaiting", "rate", "inflight"],
  setState: ["job", "lock", "inflight"],
  completeMerge: ["job", "lock", "inflight", "mergeCount", "trainPending", "trainJobs", "trainWaiting"],
  startSync: [
    "job",
    "syncJobs",
    "syncWaiting",
    "lock",
    "inflight",
    "done",
    "mergeJobs",
    "mergeWaiting",
    "fingerprints",
    "etags",
  ],
  markReposDone: ["job", "done", "mergeJobs", "mergeWaiting", "lock", "inflight", "fingerprints", "etags"],
  touchJob: ["job", "lock", "inflight"],
  failStuck: ["inflight"],
  enqueue: ["jobs", "waiting"],
  dlqReplay: ["dlq", "jobs", "waiting"],
  releaseIfOwner: ["key"],
  callbackRegister: ["receivers", "job"],
  callbackAdvance: ["list", "notifyJobs", "notifyWaiting"],
} as const satisfies Record<keyof JobScripts, readonly string[]>;

type ScriptName = keyof typeof KEY_ORDER;
type KeysOf<N extends ScriptName> = { [K in (typeof KEY_ORDER)[N][number]]: string };

const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));

/** The typed wrappers over one client (scripts defined on it once). */
export function jobScripts(redis: Redis): JobScripts {
  defineScripts(redis);
  const call = <N extends ScriptName>(name: N, k: KeysOf<N>, ...argv: (string | number)[]): Promise<unknown> => {
    const fn = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[name];
    if (typeof fn !== "function") throw new Error(`lua script ${name} is not loaded`);
    const keys = (KEY_ORDER[name] as readonly string[]).map((n) => (k as Record<string, string>)[n]);
    return fn.call(redis, ...keys, ...argv);
  };
  const json = JSON.stringify;
  return {
    async requestRefresh(k, a) {
      const reply = (await call("requestRefresh", k, json(a))) as unknown[];
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
      return str(await call("setState", k, json(a))) || null;
    },
    async completeMerge(k, a) {
      return str(await call("completeMerge", k, json(a))) || null;
    },
    async startSync(k, a) {
      return str(await call("startSync", k, json(a))) || null;
    },
    async markReposDone(k, a) {
      const reply = (await call("markReposDone", k, json(a))) as unknown[];
      return {
        last: Number(reply[0]) === 1,
        json: str(reply[1]),
        counted: a.done.map((_, i) => Number(reply[2 + i]) === 1),
      };
    },
    async touchJob(k, jobId) {
      return Number(await call("touchJob", k, jobId)) === 1;
    },
    async failStuck(k, a) {
      return ((await call("failStuck", k, json(a))) as unknown[]).map(str);
    },
    async enqueue(k, id, data) {
      return Number(await call("enqueue", k, id, data)) === 1;
    },
    async dlqReplay(k, entry, id, data) {
      return Number(await call("dlqReplay", k, entry, id, data)) === 1;
    },
    async releaseIfOwner(key, expected) {
      return Number(await call("releaseIfOwner", { key }, expected)) === 1;
    },
    async callbackRegister(k, a) {
      return Number(await call("callbackRegister", k, json(a)));
    },
    async callbackAdvance(k, a) {
      return Number(await call("callbackAdvance", k, json(a))) === 1;
    },
  };
}
