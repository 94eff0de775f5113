#!/usr/bin/env bun
/**
 * `npm run demo`: the main job end to end on embedded defaults. Starts a
 * private Redis, the GitHub fixture server, workers, the training worker and
 * the gateway; refreshes `yungryce` through the public API while following
 * the live event stream; reads the bundle (and its ETag/304); asks /api/ai;
 * shows that a second refresh is `fresh`; then stops everything it started.
 * Every figure printed comes from the running system.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseScriptArgs } from "./lib/cli-args.ts";
import { startEmbeddedStack } from "./lib/embedded-stack.ts";
import { sseData } from "./lib/sse.ts";

parseScriptArgs({}, "npm run demo", {
  details: "Environment: DEMO_USER (default yungryce), DEMO_QUESTION (the first question asked),\n" +
    "DEMO_VERBOSE=1 (the stack's own output too).",
});

const USER = process.env.DEMO_USER || "yungryce";
const QUESTION = process.env.DEMO_QUESTION || "Which projects use Flask?";
const storageDir = mkdtempSync(join(tmpdir(), "foliosync-demo-"));
const t0 = performance.now();
const ms = () => `${Math.round(performance.now() - t0)} ms`;
const say = (s: string) => console.log(s);

type Job = {
  job_id: string;
  state: string;
  progress: { total: number; completed: number; failed: number; percentage: number };
  error?: string;
  message?: string;
};

async function json(res: Response) {
  const body = await res.json().catch(() => null);
  if (!res.ok && res.status !== 202) throw new Error(`${res.url} → ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** Follows the SSE stream until one of `until`, printing each change. */
async function follow(url: string, until: Set<string>, timeoutMs = 120_000): Promise<Job> {
  const res = await fetch(url, { headers: { accept: "text/event-stream" }, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok || !res.body) throw new Error(`events → ${res.status}`);
  let last: Job | undefined;
  let lastLine = "";
  for await (const data of sseData(res.body)) {
    const job = JSON.parse(data) as Job;
    last = job;
    const p = job.progress;
    const line = job.state === "syncing"
      ? `  ${ms().padStart(8)}  syncing   ${p.completed + p.failed} of ${p.total} repos (${p.percentage}%)${
        p.failed ? `, ${p.failed} failed` : ""
      }`
      : `  ${ms().padStart(8)}  ${job.state}${job.message ? ` — ${job.message}` : ""}${
        job.error ? ` — ${job.error}` : ""
      }`;
    // Print state changes, and sync progress in steps of about a tenth.
    const step = job.state === "syncing" ? `syncing:${Math.floor(p.percentage / 10)}` : line;
    if (step !== lastLine) say(line);
    lastLine = step;
    if (until.has(job.state)) return job;
  }
  if (!last) throw new Error("event stream ended without an event");
  return last;
}

let stack: Awaited<ReturnType<typeof startEmbeddedStack>> | undefined;
let exitCode = 0;
try {
  say(`foliosync demo — refreshing GitHub user "${USER}" from the fixture GitHub server\n`);
  stack = await startEmbeddedStack({
    fixtures: true,
    port: 0,
    inheritOutput: !!process.env.DEMO_VERBOSE,
    env: { STORAGE_BACKEND: "local", STORAGE_DIR: storageDir, LOG_LEVEL: "warn" },
  });
  const api = `${stack.gatewayUrl}/api`;
  say(
    `stack up in ${ms()}: gateway ${stack.gatewayUrl}, Redis ${stack.env.REDIS_URL}, GitHub fixtures ${stack.githubUrl}\n`,
  );

  const tReq = performance.now();
  const accepted = await json(
    await fetch(`${api}/bundles/${USER}/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }),
  );
  say(`POST /api/bundles/${USER}/refresh → 202 in ${(performance.now() - tReq).toFixed(1)} ms: job ${accepted.job_id}`);
  const done = await follow(
    `${stack.gatewayUrl}${accepted.events_url}`,
    new Set(["completed", "fresh", "failed", "trained", "training_skipped", "training_failed"]),
  );
  if (done.state === "failed") throw new Error(`refresh failed: ${done.error}`);

  const bundleRes = await fetch(`${api}/bundles/${USER}`);
  const bundle = await json(bundleRes);
  const etag = bundleRes.headers.get("etag");
  const documented = bundle.data.filter((r: { has_documentation: boolean }) => r.has_documentation).length;
  const withReadme = bundle.data.filter((r: { readme: string }) => r.readme.length > 0).length;
  say(
    `\nGET /api/bundles/${USER} → ${bundle.data.length} repos (${withReadme} with README, ${documented} documented), fingerprint ${
      bundle.fingerprint.slice(0, 12)
    }…`,
  );
  const again = await fetch(`${api}/bundles/${USER}`, { headers: { "if-none-match": etag ?? "" } });
  await again.body?.cancel();
  say(`GET again with If-None-Match → ${again.status}`);

  // Training follows the bundle on its own low-priority queue.
  const status = await json(await fetch(`${api}/bundles/${USER}/status?job_id=${accepted.job_id}`));
  if (["completed", "training"].includes(status.state) && /training queued/.test(done.message ?? "")) {
    say(`\ntraining the semantic model (Deno + TensorFlow.js)…`);
    const tTrain = performance.now();
    const deadline = Date.now() + 180_000;
    let s = status;
    while (!["trained", "training_skipped", "training_failed"].includes(s.state) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      s = await json(await fetch(`${api}/bundles/${USER}/status?job_id=${accepted.job_id}`));
    }
    say(
      `  ${ms().padStart(8)}  ${s.state}${s.message ? ` — ${s.message}` : ""}${s.error ? ` — ${s.error}` : ""} (${
        Math.round(performance.now() - tTrain)
      } ms)`,
    );
  }

  // The first question loads the model into the gateway's cache and the sentence encoder (TF.js: every
  // question is embedded); the others are warm. The last is a need in a person's words.
  const questions = [
    QUESTION,
    "projects that run on Azure Functions",
    "something that switches my cloud virtual machine off after work to save money",
  ];
  const notes = [" (cold: loads the model and the sentence encoder)", " (warm)", " (warm)"];
  for (const [i, question] of questions.entries()) {
    const tAi = performance.now();
    const ai = await json(
      await fetch(`${api}/ai`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: question, username: USER, limit: 5 }),
      }),
    );
    say(
      `\nPOST /api/ai "${question}" → ${(performance.now() - tAi).toFixed(1)} ms${notes[i]}, model ${ai.model}`,
    );
    for (const r of ai.repositories_used) say(`  ${r.relevance_score.toFixed(3)}  ${r.name}`);
    say(`  answer: ${ai.response.split("\n")[0].slice(0, 200)}`);
  }

  const second = await json(
    await fetch(`${api}/bundles/${USER}/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }),
  );
  say(`\nsecond refresh (nothing changed on GitHub):`);
  const fresh = await follow(`${stack.gatewayUrl}${second.events_url}`, new Set(["completed", "fresh", "failed"]));
  say(
    `\ndone in ${ms()}: first refresh ${done.state} (${done.progress.completed}/${done.progress.total} repos), second ${fresh.state}.`,
  );
} catch (err) {
  console.error(`\ndemo failed: ${(err as Error).message}`);
  exitCode = 1;
} finally {
  await stack?.stop();
  rmSync(storageDir, { recursive: true, force: true });
}
process.exit(exitCode);
