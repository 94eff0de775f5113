/**
 * Ranking-quality regression: trains the yungryce model as the worker does
 * (wasm, seed 42, the installed word vectors and sentence encoder), ranks as
 * /api/ai does (with each question's sentence vector) and checks, on the
 * development query sets, that the fused ranking is never worse than plain
 * BM25 (within a small margin) and clearly better on the paraphrased sets.
 * Figures are computed, not stored: a change that degrades the fusion fails
 * here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { loadFixtureBundle, loadQueries } from "../../shared/ranking/fixture-bundle.ts";
import { summarize } from "../../shared/ranking/metrics.ts";
import type { RankMode } from "../../shared/ranking/ranker.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import { loadSentenceEncoder } from "../../shared/ranking/sentence-encoder.ts";
import { buildUserModel, type BuiltModel } from "../../workers/train/train.ts";
import { githubFixturesDir, queriesDir } from "../support/paths.ts";

await selectBackend(tf, { forced: "wasm" });

const MARGIN = 0.01;

/** nDCG@5 of BM25 and of the fusion on a query file, ranked as /api/ai does (with each question's sentence vector). */
async function bm25AndFusion({ model, index }: BuiltModel, file: string): Promise<{ bm25: number; fused: number }> {
  const qs = loadQueries(file);
  const qv = await (await loadSentenceEncoder(tf)).embed(qs.map((q) => q.query));
  const ndcg = (mode: RankMode) =>
    summarize(qs.map((q, i) => ({
      ranked: index.rankNames(q.query, mode, model, undefined, undefined, undefined, qv[i]),
      relevant: q.relevant,
    })))["ndcg@5"];
  return { bm25: ndcg("bm25"), fused: ndcg("fusion") };
}

Deno.test("fusion is at least as good as BM25 on the yungryce query sets", async () => {
  const bundle = loadFixtureBundle(join(githubFixturesDir, "yungryce"));
  const built = await buildUserModel(bundle, { backend: "wasm", seed: 42 });
  const { model, index } = built;
  // Every repo's hubness is measured at training time and travels with the model; so do the sentence vectors.
  assert.deepEqual(Object.keys(model.meta.align_hubness ?? {}).sort(), index.names.slice().sort());
  const encoder = await loadSentenceEncoder(tf);
  assert.equal(model.meta.sentence_encoder, encoder.id);
  assert.equal(model.sentenceVectors?.length, index.size * encoder.dim);
  const files = [
    join(queriesDir, "yungryce.jsonl"),
    new URL("../fixtures/queries/yungryce-paraphrased.jsonl", import.meta.url).pathname,
    new URL("../fixtures/queries/yungryce-heldout.jsonl", import.meta.url).pathname,
    new URL("../fixtures/queries/yungryce-heldout2.jsonl", import.meta.url).pathname,
    new URL("../fixtures/queries/yungryce-heldout5.jsonl", import.meta.url).pathname,
    new URL("../fixtures/queries/yungryce-heldout6.jsonl", import.meta.url).pathname,
    new URL("../fixtures/queries/yungryce-heldout10.jsonl", import.meta.url).pathname,
    new URL("../fixtures/queries/yungryce-heldout16.jsonl", import.meta.url).pathname,
  ];
  for (const file of files) {
    const { bm25, fused } = await bm25AndFusion(built, file);
    assert.ok(fused >= bm25 - MARGIN, `${file}: fusion nDCG@5 ${fused} < BM25 ${bm25}`);
    if (file.includes("paraphrased") || file.includes("heldout2")) {
      // Where BM25 is weakest the fusion must gain clearly (seed 42 cuts BM25's error by 27 % and 14 %;
      // without the alignment's length normalisation on long questions heldout2 was at 2 %).
      assert.ok((fused - bm25) / (1 - bm25) >= 0.1, `${file}: fusion ${fused} barely beats BM25 ${bm25}`);
    }
    if (file.includes("heldout2")) {
      // Seed 42 cuts BM25's error by 42 % (46 % before the concept glossary, which costs this set; 36 % with the
      // fourth session's starting weights 0.25 / 0.25 / 0.3).
      assert.ok((fused - bm25) / (1 - bm25) >= 0.35, `${file}: fusion ${fused} vs BM25 ${bm25}`);
    }
    if (file.endsWith("yungryce-heldout.jsonl")) {
      // Short questions the sentence signal singles one repo out for ("work out how much to leave the waiter"):
      // seed 42 cuts BM25's error by 28 %; 19 % when they got only the length ramp's weight (SENTENCE_CONFIDENT_Z).
      assert.ok((fused - bm25) / (1 - bm25) >= 0.25, `${file}: fusion ${fused} vs BM25 ${bm25}`);
    }
    if (file.includes("heldout16")) {
      // Half short questions: seed 42 cuts BM25's error by 44 %; 37 % while questions of <= 3 content words
      // never got the sentence signal ("gratuity on a dinner bill" → Tip-Calculator; SENTENCE_CONFIDENT_Z).
      assert.ok((fused - bm25) / (1 - bm25) >= 0.42, `${file}: fusion ${fused} vs BM25 ${bm25}`);
    }
    if (file.includes("heldout10")) {
      // Seed 42 cuts BM25's error by 63 % with the concept glossary and the weights chosen with it (fusion.ts);
      // 34 % before.
      assert.ok((fused - bm25) / (1 - bm25) >= 0.5, `${file}: fusion ${fused} vs BM25 ${bm25}`);
    }
    if (file.includes("heldout5")) {
      // Mostly repositories that are a name and a language: seed 42 cuts BM25's error by 36 %;
      // without the tech glossary (salient text and the fusion's BM25) it was 14 %.
      assert.ok((fused - bm25) / (1 - bm25) >= 0.25, `${file}: fusion ${fused} vs BM25 ${bm25}`);
    }
    if (file.includes("heldout6")) {
      // Written fresh for the sentence signal: seed 42 cuts BM25's error by 53 %; without the signal 28 %.
      assert.ok((fused - bm25) / (1 - bm25) >= 0.45, `${file}: fusion ${fused} vs BM25 ${bm25}`);
    }
  }
});

Deno.test("fusion on sindresorhus: above BM25 where BM25 is strong, well above on a fresh set", async () => {
  // A user most of whose repos describe themselves (the identity signal is on). Written fresh:
  // heldout7 (BM25 .69; seed 42 was 0.027 below BM25 with the identity signal at 0.6) and
  // heldout8 (seed 42 cuts BM25's error by 66 %; 29 % at identity 0.6, −6 % before the sentence signal).
  const bundle = loadFixtureBundle(join(githubFixturesDir, "sindresorhus"));
  const built = await buildUserModel(bundle, { backend: "wasm", seed: 42 });
  assert.ok(built.index.identityWeight > 0);
  // heldout2: seed 42 cuts BM25's error by 70 % (51 % with the fourth session's starting weights);
  // heldout5: 45 % with the concept glossary (programming jargon in everyday words) in the alignment and the
  // fusion's BM25, 36 % with it in the alignment only, 19 % without it.
  // heldout13 (fresh): seed 42 cuts BM25's error by 63 % (38 % with the fourth session's code, mean of 3 seeds).
  const sets = [["heldout7", 0], ["heldout8", 0.5], ["heldout2", 0.55], ["heldout5", 0.4], ["heldout13", 0.5]] as const;
  for (const [set, minCut] of sets) {
    const file = new URL(`../fixtures/queries/sindresorhus-${set}.jsonl`, import.meta.url).pathname;
    const { bm25, fused } = await bm25AndFusion(built, file);
    assert.ok((fused - bm25) / (1 - bm25) > minCut, `sindresorhus-${set}: fusion ${fused} vs BM25 ${bm25}`);
  }
});
