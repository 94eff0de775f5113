#!/usr/bin/env bun
/**
 * `npm run bench:storage [-- --json]`: a cold refresh of yungryce on each
 * storage backend (local directory, GCS via the project's GCS JSON-API test
 * server, Azure Blob via Azurite), same machine, same run. The fixture
 * GitHub server answers without added latency so storage dominates.
 * Last line: {"local":{"ms"},"gcs":{"ms"},"azure":{"ms"}}.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../shared/config.ts";
import { FINAL_STATES } from "../../shared/schemas/job.ts";
import { startAzurite } from "../../tests/support/azurite.ts";
import { startGcsTestServer } from "../../tests/support/gcs-test-server.ts";
import { createContext } from "../../workers/context.ts";
import { createLogger } from "../../workers/log.ts";
import { startRoles } from "../../workers/roles.ts";
import { startFixtureServer } from "../github-fixture-server.ts";
import { startRedis } from "../lib/redis-server.ts";
import { parseScriptArgs } from "../lib/cli-args.ts";

const asJson = parseScriptArgs({ json: { type: "boolean" } }, "bench:storage [--json]").values.json ?? false;
const gh = await startFixtureServer({ port: 0 });
const gcs = await startGcsTestServer({ buckets: ["bench"] });
const az = await startAzurite();
const dir = mkdtempSync(join(tmpdir(), "foliosync-bench-store-"));
const envs: Record<string, Record<string, string>> = {
  local: { STORAGE_BACKEND: "local", STORAGE_DIR: dir },
  gcs: { STORAGE_BACKEND: "gcs", GCS_BUCKET: "bench", GCS_API_ENDPOINT: gcs.url },
  azure: { STORAGE_BACKEND: "azure", AZURE_STORAGE_CONNECTION_STRING: az.connectionString, AZURE_CONTAINER: "bench" },
};
const out: Record<string, { ms: number; state: string }> = {};
// The first round warms the process (JIT, SDK loading) and is not reported.
const rounds: [string, Record<string, string>][] = [["warm-up", {
  STORAGE_BACKEND: "local",
  STORAGE_DIR: mkdtempSync(join(tmpdir(), "foliosync-warmup-")),
}], ...Object.entries(envs)];
for (const [name, env] of rounds) {
  const redis = await startRedis();
  const cfg = loadConfig({ REDIS_URL: redis.url, GITHUB_API_URL: gh.url, LOG_LEVEL: "error", ...env });
  const ctx = await createContext(cfg, { log: createLogger("silent") });
  const roles = startRoles(ctx, ["plan", "sync", "merge"]);
  await Bun.sleep(100);
  const t = performance.now();
  const { job } = await ctx.jobs.requestRefresh({ username: "yungryce" });
  let state = "";
  for (;;) {
    state = (await ctx.jobs.get(job.job_id))!.state;
    if (FINAL_STATES.has(state as never)) break;
    await Bun.sleep(2);
  }
  const ms = Math.round(performance.now() - t);
  (asJson ? console.error : console.log)(`cold refresh of yungryce on ${name}: ${ms} ms → ${state}`);
  if (name !== "warm-up") out[name] = { ms, state };
  await roles.stop();
  ctx.redis.disconnect();
  await ctx.store.close?.();
  await redis.stop();
}
await az.dispose();
await gcs.stop();
await gh.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(out));
process.exit(0);
