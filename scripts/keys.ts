#!/usr/bin/env bun
/**
 * Run-time API keys (stored in Redis as SHA-256 hashes only; API_KEYS in the
 * environment keep working beside them):
 *   `npm run keys -- create <scope>`   scope `*` or `alice|bob`; prints the key ONCE
 *   `npm run keys -- revoke <key|id>`  by the key itself or the id `list` shows
 *   `npm run keys -- list`             id, scope, creation time (never a key)
 * Add `--json` for machine-readable output. Uses REDIS_URL and QUEUE_PREFIX like the gateway.
 */
import { Redis } from "ioredis";
import { KeyRegistry } from "../shared/auth/api-keys.ts";
import { loadConfig, processEnv } from "../shared/config.ts";
import { failUsage, parseScriptArgs } from "./lib/cli-args.ts";

const usage = "npm run keys -- create <scope> | revoke <key|id> | list   [--json]";
const parsed = parseScriptArgs({ json: { type: "boolean" } }, usage, {
  allowPositionals: true,
  details: "A scope is `*` or user names joined by |. Uses REDIS_URL and QUEUE_PREFIX like the gateway.",
});
const [cmd, arg = "", ...extra] = parsed.positionals;
const known = (cmd === "create" || cmd === "revoke") && arg !== "" || cmd === "list" && arg === "";
// The arguments are not echoed: one of them may be a key.
if (!known || extra.length) failUsage("expected one command: create <scope>, revoke <key|id> or list", usage);
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
  if (cmd === "create") {
    const k = await keys.create(arg);
    if (asJson) console.log(JSON.stringify(k));
    else {
      console.log(k.key);
      console.error(`created key ${k.id} for scope ${k.scope}; it is shown only now`);
    }
  } else if (cmd === "revoke") {
    const ok = await keys.revoke(arg);
    if (asJson) console.log(JSON.stringify({ revoked: ok }));
    else console.log(ok ? "revoked" : "no such key");
    if (!ok) code = 1;
  } else {
    const all = await keys.list();
    if (asJson) console.log(JSON.stringify(all));
    else if (!all.length) console.log("no run-time keys");
    else for (const k of all) console.log(`${k.id}\t${k.scope}\t${k.created_at}`);
  }
} catch (err) {
  const msg = (err as Error).message;
  console.error(/scope/.test(msg) ? msg : "keys: could not reach Redis (REDIS_URL)");
  code = 1;
} finally {
  redis.disconnect();
}
process.exit(code);
