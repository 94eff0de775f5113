#!/usr/bin/env bun
/**
 * Run-time API keys (stored in Redis as SHA-256 hashes only; API_KEYS in the
 * environment keep working beside them):
 *   `npm run keys -- create <scope>`   scope `*` or `alice|bob`; prints the key ONCE
 *   `npm run keys -- revoke <key|id>`  by the key itself or the id `list` shows
 *   `npm run keys -- list`             id, scope, creation time (never a key)
 * Add `--json` for machine-readable output. Uses REDIS_URL and QUEUE_PREFIX like the gateway.
 */
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { KeyRegistry } from "../shared/auth/api-keys.ts";
import { loadConfig, processEnv } from "../shared/config.ts";

const usage = "usage: npm run keys -- create <scope> | revoke <key|id> | list   [--json]";
let parsed;
try {
  parsed = parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { json: { type: "boolean" } } });
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const [cmd, arg] = parsed.positionals;
const asJson = parsed.values.json === true;
let cfg;
try {
  cfg = loadConfig(processEnv());
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const redis = new Redis(cfg.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
// Connection errors are reported below, without the URL (it may hold a password).
redis.on("error", () => {});
let code = 0;
try {
  await redis.connect();
  const keys = new KeyRegistry(redis, cfg.QUEUE_PREFIX);
  if (cmd === "create" && arg) {
    const k = await keys.create(arg);
    if (asJson) console.log(JSON.stringify(k));
    else {
      console.log(k.key);
      console.error(`created key ${k.id} for scope ${k.scope}; it is shown only now`);
    }
  } else if (cmd === "revoke" && arg) {
    const ok = await keys.revoke(arg);
    if (asJson) console.log(JSON.stringify({ revoked: ok }));
    else console.log(ok ? "revoked" : "no such key");
    if (!ok) code = 1;
  } else if (cmd === "list") {
    const all = await keys.list();
    if (asJson) console.log(JSON.stringify(all));
    else if (!all.length) console.log("no run-time keys");
    else for (const k of all) console.log(`${k.id}\t${k.scope}\t${k.created_at}`);
  } else {
    console.error(usage);
    code = 2;
  }
} catch (err) {
  const msg = (err as Error).message;
  console.error(/scope/.test(msg) ? msg : "keys: could not reach Redis (REDIS_URL)");
  code = 1;
} finally {
  redis.disconnect();
}
process.exit(code);
