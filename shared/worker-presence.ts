/**
 * Which worker processes are running: each announces itself under
 * `{prefix}:worker:{host}:{pid}` (JSON, a TTL of three renew periods), so a
 * crashed or drained process drops out on its own. `foliosync workers` lists
 * them. Nothing secret is stored: roles, host name, pid, times.
 */
import type { Redis } from "ioredis";
import { redisKeys } from "./keys.ts";

export interface WorkerPresence {
  id: string;
  roles: string[];
  host: string;
  pid: number;
  started_at: string;
  seen_at: string;
}

export interface PresenceHandle {
  stop(): Promise<void>;
}

/** Announces this process now and every `everyMs` until stop() (which removes it at once). */
export function announceWorker(
  redis: Redis,
  prefix: string,
  info: { roles: string[]; host: string; pid: number },
  everyMs = 5_000,
): PresenceHandle {
  const id = `${info.host}:${info.pid}`;
  const key = redisKeys(prefix).worker(id);
  const started_at = new Date().toISOString();
  const write = () => {
    const value: WorkerPresence = { id, ...info, started_at, seen_at: new Date().toISOString() };
    // A missed beat (Redis briefly away) is not an error: the next one renews it.
    return redis.set(key, JSON.stringify(value), "PX", everyMs * 3).catch(() => {});
  };
  void write();
  const timer = setInterval(write, everyMs);
  (timer as { unref?: () => void }).unref?.();
  return {
    async stop() {
      clearInterval(timer);
      // Best effort and bounded: with Redis away a command waits for the reconnection, and the
      // entry expires by itself (3 beats) anyway.
      let timeout: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        redis.del(key).catch(() => {}),
        new Promise<void>((r) => (timeout = setTimeout(r, 1_000))),
      ]);
      clearTimeout(timeout);
    },
  };
}

/** Every announced worker (malformed entries skipped), sorted by id. */
export async function listWorkers(redis: Redis, prefix: string): Promise<WorkerPresence[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", redisKeys(prefix).workersPattern(), "COUNT", 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0" && keys.length < 10_000);
  if (!keys.length) return [];
  const values = await redis.mget(...keys);
  const out: WorkerPresence[] = [];
  for (const v of values) {
    try {
      const w = JSON.parse(v ?? "null");
      if (w && typeof w.id === "string" && Array.isArray(w.roles)) out.push(w as WorkerPresence);
    } catch { /* skipped */ }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
