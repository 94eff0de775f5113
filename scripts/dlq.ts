#!/usr/bin/env bun
/**
 * `npm run dlq -- list [--limit N]`        dead-lettered jobs, newest first, with their cause
 * `npm run dlq -- replay <index>|--all`    put entries back on their queues (index from `list`)
 * `npm run dlq -- depth`                   how many entries
 * Uses REDIS_URL and QUEUE_PREFIX like the workers.
 */
import { Redis } from "ioredis";
import { loadConfig, processEnv } from "../shared/config.ts";
import { JobStore } from "../shared/jobs/job-store.ts";

const [cmd = "list", ...rest] = process.argv.slice(2);
const usage = "usage: npm run dlq -- list [--limit N] | replay <index>|--all | depth";
let cfg;
try {
  cfg = loadConfig(processEnv());
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const redis = new Redis(cfg.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
let code = 0;
try {
  await redis.connect();
  const jobs = new JobStore(redis, { prefix: cfg.QUEUE_PREFIX });
  if (cmd === "depth") {
    console.log(await jobs.dlqDepth());
  } else if (cmd === "list") {
    const i = rest.indexOf("--limit");
    const limit = i >= 0 ? Number(rest[i + 1]) : 50;
    const entries = await jobs.dlqList(Number.isInteger(limit) && limit > 0 ? limit : 50);
    if (!entries.length) console.log("the dead-letter queue is empty");
    entries.forEach((e, n) => console.log(`${n}\t${e.failed_at}\t${e.queue}\t${e.bee_job_id}\t${e.error}`));
  } else if (cmd === "replay") {
    const entries = await jobs.dlqList(10_000);
    const picked = rest[0] === "--all"
      ? entries
      : rest[0] !== undefined && /^\d+$/.test(rest[0])
      ? [entries[Number(rest[0])]].filter(Boolean)
      : null;
    if (!picked) {
      console.error(usage);
      code = 2;
    } else if (!picked.length) {
      console.error(`no entry ${rest[0]} in the dead-letter queue`);
      code = 1;
    } else {
      let n = 0;
      for (const e of picked) if (await jobs.dlqReplay(e)) n++;
      console.log(`replayed ${n} of ${picked.length}`);
    }
  } else {
    console.error(usage);
    code = 2;
  }
} catch (err) {
  console.error(`dlq: ${(err as Error).message}`);
  code = 1;
} finally {
  redis.disconnect();
}
process.exit(code);
