/**
 * Ranking evaluation on fixture data, training exactly as the worker does.
 *
 *   deno run -A scripts/eval-ranking.ts --fixtures ../shared/fixtures/github/yungryce \
 *     --queries ../shared/fixtures/queries/yungryce.jsonl [--queries more.jsonl] [--json] [--verbose]
 *
 * Reports nDCG@5, MRR and recall@5 for bm25, model and fusion per query
 * file. With --json the last line is one JSON object
 * {"bm25":{…},"model":{…},"fusion":{…},"backend":…,"train_ms":…} (for
 * several query files, also "sets": {file: {bm25, model, fusion}}; the
 * top-level figures are the first file's).
 * TFJS_BACKEND forces a backend (webgpu | wasm | cpu).
 */
import * as tf from "@tensorflow/tfjs";
import { basename } from "node:path";
import { loadFixtureBundle, loadQueries } from "../shared/ranking/fixture-bundle.ts";
import { type MetricSummary, ndcgAt, summarize } from "../shared/ranking/metrics.ts";
import type { RankMode } from "../shared/ranking/ranker.ts";
import { selectBackend } from "../workers/train/select-backend.ts";
import { buildUserModel, heldOutQuality } from "../workers/train/train.ts";

function parseArgs(argv: string[]) {
  const out = { fixtures: "", queries: [] as string[], json: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--fixtures") out.fixtures = argv[++i];
    else if (a === "--queries") out.queries.push(argv[++i]);
    else if (a === "--json") out.json = true;
    else if (a === "--verbose" || a === "-v") out.verbose = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.fixtures || !out.queries.length) {
    throw new Error("usage: eval-ranking.ts --fixtures DIR --queries FILE [--queries FILE…] [--json] [--verbose]");
  }
  return out;
}

const args = parseArgs(Deno.args);
const say = (s: string) => (args.json ? console.error(s) : console.log(s));
const forced = (Deno.env.get("TFJS_BACKEND") ?? "") as "" | "webgpu" | "wasm" | "cpu";
const choice = await selectBackend(tf, { forced, log: (m) => console.error(m) });

const bundle = loadFixtureBundle(args.fixtures);
const built = await buildUserModel(bundle, { backend: choice.backend });
const { model, index } = built;
say(
  `${bundle.username}: ${bundle.repos.length} repos, ${built.pairs.train.length} training pairs, ` +
    `${built.pairs.heldOut.length} held out; trained on ${choice.backend} in ${built.train_ms} ms`,
);

const modes: RankMode[] = ["bm25", "model", "fusion"];
const sets: Record<string, Record<RankMode, MetricSummary>> = {};
for (const file of args.queries) {
  const queries = loadQueries(file);
  const res = {} as Record<RankMode, MetricSummary>;
  for (const mode of modes) {
    res[mode] = summarize(
      queries.map((q) => ({ ranked: index.rankNames(q.query, mode, model), relevant: q.relevant })),
    );
  }
  sets[basename(file)] = res;
  say(`\n${basename(file)} (${queries.length} queries)`);
  say(`  ${"".padEnd(8)} ${"nDCG@5".padStart(8)} ${"MRR".padStart(8)} ${"recall@5".padStart(9)}`);
  for (const mode of modes) {
    const m = res[mode];
    say(
      `  ${mode.padEnd(8)} ${m["ndcg@5"].toFixed(4).padStart(8)} ${m.mrr.toFixed(4).padStart(8)} ${
        m["recall@5"].toFixed(4).padStart(9)
      }`,
    );
  }
  if (args.verbose) {
    for (const q of queries) {
      const f = index.rankNames(q.query, "fusion", model);
      const b = index.rankNames(q.query, "bm25", model);
      say(`  ${ndcgAt(b, q.relevant).toFixed(2)} → ${ndcgAt(f, q.relevant).toFixed(2)}  ${q.query}`);
      say(`      fusion: ${f.slice(0, 5).join(", ")}`);
    }
  }
}
const heldOut = {
  bm25: heldOutQuality(index, built.pairs.heldOut, null),
  fusion: heldOutQuality(index, built.pairs.heldOut, model),
};
say(`\nheld-out pairs: bm25 ${JSON.stringify(heldOut.bm25)} fusion ${JSON.stringify(heldOut.fusion)}`);

if (args.json) {
  const first = sets[basename(args.queries[0])];
  console.log(
    JSON.stringify({
      ...first,
      backend: choice.backend,
      train_ms: built.train_ms,
      ...(choice.adapter ? { adapter: choice.adapter } : {}),
      ...(args.queries.length > 1 ? { sets } : {}),
      held_out: heldOut,
    }),
  );
}
