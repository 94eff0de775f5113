/**
 * Ranking-quality regression: trains each user's model as the worker does
 * (wasm, seed 42, the installed word vectors and sentence encoder), ranks as
 * /api/ai does (with each question's sentence vector) and checks every query
 * set of QUALITY against its minimum error cut: (fusion − BM25) / (1 − BM25)
 * on nDCG@5. On every set the fusion is also never worse than BM25 beyond
 * MARGIN. Figures are computed, not stored: a change that degrades the fusion
 * fails here. BENCHMARKS.md has each set's figures per seed.
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

/** How far (nDCG@5) the fusion may fall below BM25 on any set. */
const MARGIN = 0.01;

type User = "yungryce" | "sindresorhus";

interface QualityCase {
  user: User;
  /** Query file name without `.jsonl`: the development sets are in queriesDir, the others in tests/fixtures/queries. */
  set: string;
  /** Least error cut of BM25's nDCG@5 the fusion must reach at seed 42. */
  minimumCut: number;
  /** What the set tests, and what the cut guards. */
  why: string;
}

const QUALITY: QualityCase[] = [
  {
    user: "yungryce",
    set: "yungryce",
    minimumCut: 0,
    why: "development set, keyword questions BM25 already answers well: the fusion must not cost it",
  },
  {
    user: "yungryce",
    set: "yungryce-paraphrased",
    minimumCut: 0.1,
    why: "the development questions as needs: BM25 is weak here, the fusion must gain clearly",
  },
  {
    user: "yungryce",
    set: "yungryce-heldout2",
    minimumCut: 0.35,
    why: "long questions phrased as needs: guards the alignment's length normalisation and the concept glossary",
  },
  {
    user: "yungryce",
    set: "yungryce-heldout",
    minimumCut: 0.25,
    why: "short questions one repo stands out for in the sentence signal (SENTENCE_CONFIDENT_Z)",
  },
  {
    user: "yungryce",
    set: "yungryce-heldout16",
    minimumCut: 0.42,
    why: "half of it questions of ≤ 3 content words: guards the confident sentence weight on short questions",
  },
  {
    user: "yungryce",
    set: "yungryce-heldout10",
    minimumCut: 0.5,
    why: "needs in everyday words: guards the concept glossary and the fusion weights chosen with it",
  },
  {
    user: "yungryce",
    set: "yungryce-heldout5",
    minimumCut: 0.25,
    why: "mostly repos that are a name and a language: guards the technology glossary (SCARCE_TEXT_TERMS)",
  },
  {
    user: "yungryce",
    set: "yungryce-heldout6",
    minimumCut: 0.45,
    why: "written for the sentence signal: guards SENTENCE_WEIGHT",
  },
  {
    user: "sindresorhus",
    set: "sindresorhus-heldout7",
    minimumCut: 0,
    why: "BM25 strong (.69) on self-describing repos: guards the identity signal's weight against overriding it",
  },
  {
    user: "sindresorhus",
    set: "sindresorhus-heldout8",
    minimumCut: 0.5,
    why: "a fresh set for the identity and sentence signals together",
  },
  {
    user: "sindresorhus",
    set: "sindresorhus-heldout2",
    minimumCut: 0.55,
    why: "needs phrased apart from the package descriptions: guards the fusion weights",
  },
  {
    user: "sindresorhus",
    set: "sindresorhus-heldout5",
    minimumCut: 0.4,
    why:
      "programming jargon asked in everyday words: guards the concept glossary in the alignment and the fusion's BM25",
  },
  {
    user: "sindresorhus",
    set: "sindresorhus-heldout13",
    minimumCut: 0.5,
    why: "a fresh set: guards the fusion as a whole",
  },
];

const models = new Map<User, Promise<BuiltModel>>();
/** Each user's model, trained once for all of its sets. */
function built(user: User): Promise<BuiltModel> {
  let m = models.get(user);
  if (!m) {
    m = buildUserModel(loadFixtureBundle(join(githubFixturesDir, user)), { backend: "wasm", seed: 42 });
    models.set(user, m);
  }
  return m;
}

function queryFile(set: string): string {
  return set === "yungryce"
    ? join(queriesDir, "yungryce.jsonl")
    : new URL(`../fixtures/queries/${set}.jsonl`, import.meta.url).pathname;
}

/** nDCG@5 of BM25 and of the fusion on a query file, ranked as /api/ai does (with each question's sentence vector). */
async function bm25AndFusion({ model, index }: BuiltModel, file: string): Promise<{ bm25: number; fused: number }> {
  const qs = loadQueries(file);
  const qv = await (await loadSentenceEncoder(tf)).embed(qs.map((q) => q.query));
  const ndcg = (mode: RankMode) =>
    summarize(qs.map((q, i) => ({
      ranked: index.rankNames(q.query, { mode, model, queryVector: qv[i] }),
      relevant: q.relevant,
    })))["ndcg@5"];
  return { bm25: ndcg("bm25"), fused: ndcg("fusion") };
}

Deno.test("a trained model carries what the fusion reads", async () => {
  const { model, index } = await built("yungryce");
  // Every repo's hubness is measured at training time and travels with the model; so do the sentence vectors.
  assert.deepEqual(Object.keys(model.meta.align_hubness ?? {}).sort(), index.names.slice().sort());
  const encoder = await loadSentenceEncoder(tf);
  assert.equal(model.meta.sentence_encoder, encoder.id);
  assert.equal(model.sentenceVectors?.length, index.size * encoder.dim);
  // Most sindresorhus repos describe themselves: the identity signal is on.
  assert.ok((await built("sindresorhus")).index.identityWeight > 0);
});

Deno.test("the fusion reaches each query set's minimum error cut over BM25", async () => {
  for (const { user, set, minimumCut, why } of QUALITY) {
    const { bm25, fused } = await bm25AndFusion(await built(user), queryFile(set));
    const cut = (fused - bm25) / (1 - bm25);
    assert.ok(fused >= bm25 - MARGIN, `${set}: fusion nDCG@5 ${fused} < BM25 ${bm25}`);
    assert.ok(cut >= minimumCut, `${set} (${why}): fusion ${fused} vs BM25 ${bm25} cuts ${cut}, < ${minimumCut}`);
  }
});
