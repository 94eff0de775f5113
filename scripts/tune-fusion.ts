/**
 * Fusion weights by leave-one-set-out: how the encoder, alignment and
 * sentence weights of the fusion (DEFAULT_ALPHA, DEFAULT_GAMMA in
 * shared/ranking/fusion.ts, SENTENCE_WEIGHT in ranker.ts) were chosen.
 *
 *   deno run -A scripts/tune-fusion.ts \
 *     --fixtures ../shared/fixtures/github/yungryce --queries A.jsonl [--queries B.jsonl…] \
 *     [--fixtures ../shared/fixtures/github/sindresorhus --queries C.jsonl…] \
 *     [--seeds 42,7,1234] [--alpha 0.05,0.1,0.15,0.2] [--gamma 0.3,0.35,0.4,0.45] [--sentence 0.3,0.4,0.5] [--json]
 *
 * Each --queries belongs to the --fixtures before it. Models are trained
 * exactly as the worker does (one per user and seed); every weight
 * combination then ranks every question as /api/ai would (the question's
 * sentence vector included). Per combination: mean nDCG@5 over the sets
 * (each set the mean of the seeds), the sets below a 25 % cut of BM25's
 * error, the lowest cut. Leave-one-set-out: for each set, the combination
 * best on all the other sets, scored on that set — the estimate of how a
 * choice made this way fares on a set it did not see. With --json the last
 * line is one JSON object {configs, loso, loso_mean, current}.
 */
import * as tf from "@tensorflow/tfjs";
import { basename } from "node:path";
import { loadFixtureBundle, loadQueries } from "../shared/ranking/fixture-bundle.ts";
import { DEFAULT_ALPHA, DEFAULT_GAMMA } from "../shared/ranking/fusion.ts";
import { ndcgAt } from "../shared/ranking/metrics.ts";
import { DEFAULT_FUSION, SENTENCE_WEIGHT } from "../shared/ranking/ranker.ts";
import { questionVectors } from "../shared/ranking/sentence-encoder.ts";
import { selectBackend } from "../shared/ranking/select-backend.ts";
import { buildUserModel } from "../workers/train/train.ts";
import { failUsage, numberListFlag, parseScriptArgs } from "./lib/cli-args.ts";

interface Weights {
  alpha: number;
  gamma: number;
  sentence: number;
}

const USAGE = "tune-fusion.ts --fixtures DIR --queries FILE [--queries FILE…] [--fixtures DIR …] [--seeds …] " +
  "[--alpha …] [--gamma …] [--sentence …] [--json]";
const { values: argv, tokens } = parseScriptArgs({
  fixtures: { type: "string", multiple: true },
  queries: { type: "string", multiple: true },
  seeds: { type: "string" },
  alpha: { type: "string" },
  gamma: { type: "string" },
  sentence: { type: "string" },
  json: { type: "boolean" },
}, USAGE);
/** Each --queries belongs to the --fixtures before it. */
const users: Array<{ fixtures: string; queries: string[] }> = [];
for (const t of tokens) {
  if (t.kind !== "option" || t.value === undefined) continue;
  if (t.name === "fixtures") users.push({ fixtures: t.value, queries: [] });
  else if (t.name === "queries") {
    if (!users.length) failUsage("--queries must follow a --fixtures", USAGE);
    users[users.length - 1].queries.push(t.value);
  }
}
if (!users.length || users.some((u) => !u.queries.length)) failUsage("every --fixtures needs a --queries", USAGE);
const args = {
  users,
  seeds: numberListFlag(argv.seeds, "seeds", [42, 7, 1234]),
  alpha: numberListFlag(argv.alpha, "alpha", [0.05, 0.1, 0.15, 0.2]),
  gamma: numberListFlag(argv.gamma, "gamma", [0.3, 0.35, 0.4, 0.45]),
  sentence: numberListFlag(argv.sentence, "sentence", [0.3, 0.4, 0.5]),
  json: argv.json ?? false,
};
const say = (s: string) => (args.json ? console.error(s) : console.log(s));
await selectBackend(tf, { forced: (Deno.env.get("TFJS_BACKEND") ?? "") as "", log: (m) => console.error(m) });

const grid: Weights[] = [];
for (const alpha of args.alpha) {
  for (const gamma of args.gamma) {
    if (alpha + gamma >= 1) continue;
    for (const sentence of args.sentence) grid.push({ alpha, gamma, sentence });
  }
}
const current: Weights = { alpha: DEFAULT_ALPHA, gamma: DEFAULT_GAMMA, sentence: SENTENCE_WEIGHT };
if (!grid.some((w) => sameWeights(w, current))) grid.push(current);

function sameWeights(a: Weights, b: Weights): boolean {
  return a.alpha === b.alpha && a.gamma === b.gamma && a.sentence === b.sentence;
}

// ndcg[config][set] summed over seeds; bm25[set]; the questions' sentence vectors per set (as BM25, the same
// for every seed: the encoder is pretrained).
const setNames: string[] = [];
const bm25: Record<string, number> = {};
const questionVecs = new Map<string, Float32Array[] | null>();
const sums: Array<Record<string, number>> = grid.map(() => ({}));
for (const user of args.users) {
  const bundle = loadFixtureBundle(user.fixtures);
  const sets = user.queries.map((file) => ({
    name: `${bundle.username}/${basename(file)}`,
    queries: loadQueries(file),
  }));
  for (const s of sets) setNames.push(s.name);
  for (const seed of args.seeds) {
    const { model, index } = await buildUserModel(bundle, { seed });
    say(`${bundle.username}: seed ${seed} trained in ${model.meta.train_ms} ms`);
    for (const s of sets) {
      if (!questionVecs.has(s.name)) {
        questionVecs.set(s.name, await questionVectors(tf, model, s.queries.map((q) => q.query)));
      }
      const qv = questionVecs.get(s.name);
      bm25[s.name] ??= mean(
        s.queries.map((q) => ndcgAt(index.rankNames(q.query, { mode: "bm25", model }), q.relevant)),
      );
      grid.forEach((w, ci) => {
        const cfg = { ...DEFAULT_FUSION, sentenceWeight: w.sentence };
        const n = mean(
          s.queries.map((q, i) =>
            ndcgAt(
              index.rankNames(q.query, {
                mode: "fusion",
                model,
                alpha: w.alpha,
                gamma: w.gamma,
                fusion: cfg,
                queryVector: qv?.[i],
              }),
              q.relevant,
            )
          ),
        );
        sums[ci][s.name] = (sums[ci][s.name] ?? 0) + n / args.seeds.length;
      });
    }
  }
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}
const cut = (set: string, n: number) => (1 - bm25[set] > 0 ? (n - bm25[set]) / (1 - bm25[set]) : 0);
const round = (x: number) => Math.round(x * 10000) / 10000;
const summary = (w: Weights, per: Record<string, number>) => ({
  ...w,
  mean_ndcg: round(mean(setNames.map((s) => per[s]))),
  below_25: setNames.filter((s) => cut(s, per[s]) < 0.25).length,
  min_cut: round(Math.min(...setNames.map((s) => cut(s, per[s])))),
});
const configs = grid.map((w, i) => summary(w, sums[i])).sort((a, b) => b.mean_ndcg - a.mean_ndcg);

const loso: Record<string, { chosen: Weights; ndcg: number; cut: number }> = {};
for (const s of setNames) {
  let best = 0, bestScore = -Infinity;
  grid.forEach((_, ci) => {
    const score = mean(setNames.filter((o) => o !== s).map((o) => sums[ci][o]));
    if (score > bestScore) (best = ci), (bestScore = score);
  });
  loso[s] = { chosen: grid[best], ndcg: round(sums[best][s]), cut: round(cut(s, sums[best][s])) };
}
const losoMean = round(mean(setNames.map((s) => loso[s].ndcg)));
const cur = summary(current, sums[grid.findIndex((w) => sameWeights(w, current))]);
const fmt = (w: Weights) => `${w.alpha} / ${w.gamma} / ${w.sentence}`;

say(
  `\n${grid.length} weight combinations (encoder / alignment / sentence), ${setNames.length} sets, seeds ${args.seeds}`,
);
for (const c of configs.slice(0, 10)) {
  say(
    `  ${fmt(c).padEnd(20)} nDCG@5 ${c.mean_ndcg.toFixed(4)}  below 25 %: ${c.below_25}  lowest cut ${
      (100 * c.min_cut).toFixed(1)
    } %`,
  );
}
say(`current (${fmt(current)}): nDCG@5 ${cur.mean_ndcg.toFixed(4)}, below 25 %: ${cur.below_25}`);
say(`\nleave-one-set-out (weights best on the other sets, scored on the left-out one):`);
for (const s of setNames) say(`  ${s.padEnd(44)} ${fmt(loso[s].chosen).padEnd(20)} ${loso[s].ndcg.toFixed(4)}`);
say(`left-out mean nDCG@5 ${losoMean.toFixed(4)} (current weights on all sets: ${cur.mean_ndcg.toFixed(4)})`);
if (args.json) console.log(JSON.stringify({ configs, loso, loso_mean: losoMean, current: cur }));
