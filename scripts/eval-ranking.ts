/**
 * Ranking evaluation on fixture data, training exactly as the worker does.
 *
 *   deno run -A scripts/eval-ranking.ts --fixtures ../shared/fixtures/github/yungryce \
 *     --queries ../shared/fixtures/queries/yungryce.jsonl [--queries more.jsonl] [--seeds 42,7,1234] [--json] [--verbose]
 *
 * Reports nDCG@5, MRR and recall@5 for bm25, model and fusion per query
 * file. With --json the last line is one JSON object
 * {"bm25":{…},"model":{…},"fusion":{…},"backend":…,"train_ms":…} (for
 * several query files, also "sets": {file: {bm25, model, fusion}}; the
 * top-level figures are the first file's). With --seeds, a model is trained
 * per seed and every figure is the mean over the seeds (per-seed nDCG@5 in
 * "per_seed"); train_ms is then the mean training time.
 * TFJS_BACKEND forces a backend (webgpu | wasm | cpu).
 */
import * as tf from "@tensorflow/tfjs";
import { basename } from "node:path";
import { loadFixtureBundle, loadQueries } from "../shared/ranking/fixture-bundle.ts";
import { type MetricSummary, ndcgAt, summarize } from "../shared/ranking/metrics.ts";
import type { RankingModel } from "../shared/ranking/model.ts";
import type { RankMode } from "../shared/ranking/ranker.ts";
import { questionVectors } from "../shared/ranking/sentence-encoder.ts";
import { selectBackend } from "../shared/ranking/select-backend.ts";
import { buildUserModel, type BuiltModel, heldOutQuality } from "../workers/train/train.ts";
import { failUsage, numberListFlag, parseScriptArgs } from "./lib/cli-args.ts";

const USAGE = "eval-ranking.ts --fixtures DIR --queries FILE [--queries FILE…] [--seeds 42,7] [--json] [--verbose]";
const { values: argv } = parseScriptArgs({
  fixtures: { type: "string" },
  queries: { type: "string", multiple: true },
  seeds: { type: "string" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
}, USAGE);
if (!argv.fixtures || !argv.queries?.length) failUsage("--fixtures and at least one --queries are required", USAGE);
const args = {
  fixtures: argv.fixtures,
  queries: argv.queries,
  json: argv.json ?? false,
  verbose: argv.verbose ?? false,
  seeds: numberListFlag(argv.seeds, "seeds", []),
};
if (args.seeds.some((x) => !Number.isInteger(x))) failUsage("--seeds: comma-separated integers", USAGE);
const say = (s: string) => (args.json ? console.error(s) : console.log(s));
const forced = (Deno.env.get("TFJS_BACKEND") ?? "") as "" | "webgpu" | "wasm" | "cpu";
const choice = await selectBackend(tf, { forced, log: (m) => console.error(m) });

const bundle = loadFixtureBundle(args.fixtures);
const seeds = args.seeds.length ? args.seeds : [undefined];
const modes: RankMode[] = ["bm25", "model", "fusion"];
const perSeed: Array<Record<string, Record<RankMode, MetricSummary>>> = [];
const heldOuts: Array<{ bm25: MetricSummary; fusion: MetricSummary }> = [];
const trainMs: number[] = [];
// Per query file, its questions and their sentence vectors, as /api/ai computes them (when the model has the
// repos'); the same for every seed (the encoder is pretrained), so made once.
const questionSets = new Map<string, { queries: ReturnType<typeof loadQueries>; qv: Float32Array[] | null }>();
for (const seed of seeds) {
  const built = await buildUserModel(bundle, { backend: choice.backend, ...(seed !== undefined ? { seed } : {}) });
  const { model, index } = built;
  trainMs.push(built.train_ms);
  say(
    `${bundle.username}: ${bundle.repos.length} repos, ${built.pairs.train.length} training pairs, ` +
      `${built.pairs.heldOut.length} held out; seed ${model.meta.seed}: trained on ${choice.backend} in ${built.train_ms} ms`,
  );
  const sets: Record<string, Record<RankMode, MetricSummary>> = {};
  for (const file of args.queries) {
    if (!questionSets.has(file)) {
      const queries = loadQueries(file);
      questionSets.set(file, { queries, qv: await questionVectors(tf, model, queries.map((q) => q.query)) });
    }
    const { queries, qv } = questionSets.get(file)!;
    const res = {} as Record<RankMode, MetricSummary>;
    for (const mode of modes) {
      res[mode] = summarize(
        queries.map((q, i) => ({
          ranked: index.rankNames(q.query, { mode, model, queryVector: qv?.[i] }),
          relevant: q.relevant,
        })),
      );
    }
    sets[basename(file)] = res;
    if (args.verbose) verbose(file, queries, index, model, qv);
  }
  perSeed.push(sets);
  heldOuts.push({
    bm25: heldOutQuality(index, built.pairs.heldOut, null),
    fusion: heldOutQuality(index, built.pairs.heldOut, model),
  });
}

function verbose(
  file: string,
  queries: ReturnType<typeof loadQueries>,
  index: BuiltModel["index"],
  model: RankingModel,
  qv: Float32Array[] | null,
) {
  say(`\n${basename(file)}, per query (bm25 → fusion nDCG@5)`);
  for (const [i, q] of queries.entries()) {
    const f = index.rankNames(q.query, { mode: "fusion", model, queryVector: qv?.[i] });
    const b = index.rankNames(q.query, { mode: "bm25", model });
    say(`  ${ndcgAt(b, q.relevant).toFixed(2)} → ${ndcgAt(f, q.relevant).toFixed(2)}  ${q.query}`);
    say(`      fusion: ${f.slice(0, 5).join(", ")}`);
  }
}

const round = (x: number) => Math.round(x * 10000) / 10000;
function mean(xs: MetricSummary[]): MetricSummary {
  const out = {} as MetricSummary;
  for (const k of Object.keys(xs[0]) as Array<keyof MetricSummary>) {
    (out as unknown as Record<string, number>)[k] = round(xs.reduce((s, x) => s + (x[k] as number), 0) / xs.length);
  }
  return out;
}
const sets: Record<string, Record<RankMode, MetricSummary>> = {};
for (const file of args.queries) {
  const name = basename(file);
  const res = {} as Record<RankMode, MetricSummary>;
  for (const mode of modes) res[mode] = mean(perSeed.map((s) => s[name][mode]));
  sets[name] = res;
  const n = loadQueries(file).length;
  say(`\n${name} (${n} queries${seeds.length > 1 ? `, mean of ${seeds.length} seeds` : ""})`);
  say(`  ${"".padEnd(8)} ${"nDCG@5".padStart(8)} ${"MRR".padStart(8)} ${"recall@5".padStart(9)}`);
  for (const mode of modes) {
    const m = res[mode];
    say(
      `  ${mode.padEnd(8)} ${m["ndcg@5"].toFixed(4).padStart(8)} ${m.mrr.toFixed(4).padStart(8)} ${
        m["recall@5"].toFixed(4).padStart(9)
      }`,
    );
  }
  const cut = (1 - res.bm25["ndcg@5"]) > 0
    ? ((res.fusion["ndcg@5"] - res.bm25["ndcg@5"]) / (1 - res.bm25["ndcg@5"])) * 100
    : 0;
  say(`  fusion cuts BM25's error (1 − nDCG@5) by ${cut.toFixed(1)}%`);
}
const heldOut = { bm25: mean(heldOuts.map((h) => h.bm25)), fusion: mean(heldOuts.map((h) => h.fusion)) };
say(`\nheld-out pairs: bm25 ${JSON.stringify(heldOut.bm25)} fusion ${JSON.stringify(heldOut.fusion)}`);
const train_ms = Math.round(trainMs.reduce((a, b) => a + b, 0) / trainMs.length);

if (args.json) {
  const first = sets[basename(args.queries[0])];
  console.log(
    JSON.stringify({
      ...first,
      backend: choice.backend,
      train_ms,
      ...(args.seeds.length ? { seeds: args.seeds, train_ms_per_seed: trainMs } : {}),
      ...(choice.adapter ? { adapter: choice.adapter } : {}),
      ...(args.queries.length > 1 ? { sets } : {}),
      held_out: heldOut,
      ...(seeds.length > 1
        ? {
          per_seed: Object.fromEntries(
            args.queries.map((f) => [
              basename(f),
              Object.fromEntries(modes.map((m) => [m, perSeed.map((s) => s[basename(f)][m]["ndcg@5"])])),
            ]),
          ),
        }
        : {}),
    }),
  );
}
