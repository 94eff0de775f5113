/**
 * /api/ai benchmark: warm latency of the answer path (bundle and model
 * cached in the process, as in the gateway), on a fixture owner's bundle
 * with a trained, promoted model. Training runs once in Deno
 * (scripts/bench/train.ts --store); the service is then measured here, in
 * Deno as in the gateway, in process and over HTTP (Deno.serve → service →
 * JSON). Every question is embedded by the sentence encoder as if new (the
 * service's question-vector cache is off), so repeats of the query list do
 * not flatter the figures.
 *
 *   npm run bench:ai [-- --owner yungryce --requests 2000]
 *
 * Prints a table and a last line of JSON {p50_ms, p95_ms, p99_ms, http_p95_ms, …}.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAiService } from "../../shared/ranking/ai-service.ts";
import { loadInstalledSentenceEncoder } from "../../shared/ranking/sentence-encoder.ts";
import { loadQueries } from "../../shared/ranking/fixture-bundle.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { denoBin, queriesDir, repoRoot } from "../../tests/support/paths.ts";
import { numberFlag, parseScriptArgs } from "../lib/cli-args.ts";

const { values: argv } = parseScriptArgs(
  { owner: { type: "string" }, requests: { type: "string" } },
  "bench:ai [--owner NAME] [--requests N]",
);
const owner = argv.owner ?? "yungryce";
const requests = numberFlag(argv.requests, "requests", 2000, 1);

const dir = mkdtempSync(join(tmpdir(), "foliosync-bench-ai-"));
try {
  const train = spawnSync(denoBin, [
    "run",
    "-A",
    "scripts/bench/train.ts",
    "--owner",
    owner,
    "--runs",
    "1",
    "--store",
    dir,
  ], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, TFJS_BACKEND: process.env.TFJS_BACKEND || "wasm" },
  });
  if (train.status !== 0) throw new Error(`training failed:\n${train.stderr}`);
  const trained = JSON.parse(train.stdout.trim().split("\n").pop()!);
  console.error(`model: ${trained.promoted} (trained on ${trained.backend} in ${trained.train_ms} ms)`);

  const store = await LocalStore.open(dir);
  const ai = createAiService({
    store,
    queryEncoder: () => loadInstalledSentenceEncoder({ forced: "wasm", log: (m) => console.error(m) }),
    maxQueryVectors: 0,
  });
  const files = [
    join(queriesDir, `${owner}.jsonl`),
    join(repoRoot, "tests", "fixtures", "queries", `${owner}.jsonl`),
    join(repoRoot, "tests", "fixtures", "queries", `${owner}-paraphrased.jsonl`),
  ].filter((f) => existsSync(f));
  const queries = files.flatMap((f) => loadQueries(f).map((q) => q.query));
  if (!queries.length) throw new Error(`no query files for ${owner}`);
  const first = await ai.answer({ query: queries[0], username: owner });
  if (!first) throw new Error("no answer");
  console.error(`model label: ${first.model}`);
  for (let i = 0; i < 50; i++) await ai.answer({ query: queries[i % queries.length], username: owner });

  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
  const lat: number[] = [];
  let withSentence = 0;
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    const a = await ai.answer({ query: queries[i % queries.length], username: owner, limit: 5 });
    lat.push(performance.now() - t);
    if (a?.model.includes("+sentence")) withSentence++;
  }
  lat.sort((a, b) => a - b);

  // Over HTTP: JSON in, JSON out, on a local socket.
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const body = await req.json();
    return Response.json(await ai.answer(body));
  });
  const url = `http://127.0.0.1:${server.addr.port}/api/ai`;
  const http: number[] = [];
  for (let i = 0; i < Math.min(requests, 1000); i++) {
    const t = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: queries[i % queries.length], username: owner }),
    });
    await res.json();
    http.push(performance.now() - t);
  }
  await server.shutdown();
  http.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const out = {
    owner,
    requests,
    model: first.model,
    /** Share of the questions the sentence signal took part in (every question is embedded: ≈ 5–15 ms on wasm). */
    sentence_share: r(withSentence / requests),
    p50_ms: r(pct(lat, 50)),
    p95_ms: r(pct(lat, 95)),
    p99_ms: r(pct(lat, 99)),
    max_ms: r(lat[lat.length - 1]),
    http_p50_ms: r(pct(http, 50)),
    http_p95_ms: r(pct(http, 95)),
    train_backend: trained.backend,
    train_ms: trained.train_ms,
  };
  console.log(`in process: p50 ${out.p50_ms} ms, p95 ${out.p95_ms} ms, p99 ${out.p99_ms} ms`);
  console.log(`over HTTP:  p50 ${out.http_p50_ms} ms, p95 ${out.http_p95_ms} ms`);
  console.log(JSON.stringify(out));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
