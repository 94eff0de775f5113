import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, waitForPort } from "./free-port.ts";
import { startProcess } from "./process.ts";

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** A fresh ioredis client (closed by stop()). */
  client(): Redis;
  stop(): Promise<void>;
}

/** redis-server's arguments for a private, unpersisted server on 127.0.0.1:`port` with `dir` as its directory. */
export function redisServerArgs(port: number, dir: string, extra: string[] = []): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...extra];
}

/**
 * A private redis-server on a free port with its own temp dir (never 6379,
 * never shared), no persistence. stop() kills it and removes the dir.
 */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "foliosync-redis-"));
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    if (port === 6379) continue;
    const proc = startProcess(
      "redis-server",
      redisServerArgs(port, dir, ["--daemonize", "no", "--loglevel", "warning"]),
    );
    try {
      await waitForPort(port, 10_000);
    } catch (err) {
      lastErr = new Error(`redis-server did not start: ${err}\n${proc.output()}`);
      await proc.stop(500);
      continue;
    }
    const clients: Redis[] = [];
    return {
      port,
      dir,
      url: `redis://127.0.0.1:${port}`,
      client() {
        const c = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 3, lazyConnect: false });
        clients.push(c);
        return c;
      },
      async stop() {
        for (const c of clients) c.disconnect();
        await proc.stop(2000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw lastErr ?? new Error("could not start redis-server");
}
