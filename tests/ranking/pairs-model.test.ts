import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadFixtureBundle } from "../../shared/ranking/fixture-bundle.ts";
import { generatePairs, isHeldOut, passages } from "../../shared/ranking/pairs.ts";
import {
  buildIndex,
  DEFAULT_MODEL_CONFIG,
  encode,
  featurize,
  modelFromArtifacts,
  modelToArtifacts,
  type RankingModel,
  scoreRepos,
} from "../../shared/ranking/model.ts";
import { rng } from "../../shared/ranking/hash.ts";
import { githubFixturesDir } from "../support/paths.ts";

const bundle = loadFixtureBundle(join(githubFixturesDir, "yungryce"));

describe("training pairs", () => {
  test("are deterministic, cover every repo, and hold out a stable share", () => {
    const a = generatePairs(bundle.repos, { seed: 7 });
    const b = generatePairs(bundle.repos, { seed: 7 });
    expect(a).toEqual(b);
    const perRepo = new Map<number, number>();
    for (const p of a.train) perRepo.set(p.repo, (perRepo.get(p.repo) ?? 0) + 1);
    for (let i = 0; i < bundle.repos.length; i++) expect(perRepo.get(i) ?? 0).toBeGreaterThanOrEqual(2);
    const share = a.heldOut.length / (a.heldOut.length + a.train.length);
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.3);
    for (const p of a.heldOut) expect(isHeldOut(bundle.repos[p.repo].name, p.text, 0.15)).toBe(true);
    const trainTexts = new Set(a.train.map((p) => `${p.repo}:${p.text}`));
    for (const p of a.heldOut) expect(trainTexts.has(`${p.repo}:${p.text}`)).toBe(false);
  });
  test("the held-out split of a pair does not depend on the rest of the bundle", () => {
    const full = generatePairs(bundle.repos);
    const sub = generatePairs(bundle.repos.slice(0, 10));
    const key = (names: string[]) => (p: { repo: number; text: string }) => `${names[p.repo]}:${p.text}`;
    const fullHeld = new Set(full.heldOut.map(key(bundle.repos.map((r) => r.name))));
    for (const p of sub.heldOut) expect(fullHeld.has(key(bundle.repos.map((r) => r.name))(p))).toBe(true);
  });
  test("passages are short windows of prose", () => {
    const ps = passages("One two three four five six seven. Eight nine ten eleven twelve.", 1, 4);
    expect(ps.every((p) => p.split(" ").length <= 4)).toBe(true);
  });
});

function randomModel(repos: string[], vocabTexts: string[], seed = 1): RankingModel {
  const cfg = { ...DEFAULT_MODEL_CONFIG, dim: 8 };
  const feats = new Set<string>();
  for (const t of vocabTexts) for (const f of featurize(t, cfg).features) feats.add(f);
  const vocab = [...feats];
  const r = rng(seed);
  const embeddings = Float32Array.from({ length: vocab.length * cfg.dim }, () => r() - 0.5);
  const repoVectors = Float32Array.from({ length: repos.length * cfg.dim }, () => r() - 0.5);
  return {
    config: cfg,
    vocab,
    index: buildIndex(vocab),
    embeddings,
    repoNames: repos,
    repoVectors,
    meta: {
      username: "someone",
      content_fingerprint: "abcdef0123456789",
      backend: "cpu",
      seed,
      trained_at: "t",
      train_ms: 1,
      epochs: 1,
      pairs: 1,
      held_out: 0,
      alpha: 0.5,
    },
  };
}

describe("model", () => {
  test("artifacts round-trip exactly", () => {
    const m = randomModel(["a", "b", "c"], ["flask web app", "c pointers"]);
    const a = modelToArtifacts(m);
    const back = modelFromArtifacts(
      JSON.parse(JSON.stringify({ ...a, weightData: undefined })) && { ...a, weightData: a.weightData.slice(0) },
    );
    expect(back.vocab).toEqual(m.vocab);
    expect([...back.embeddings]).toEqual([...m.embeddings]);
    expect([...back.repoVectors]).toEqual([...m.repoVectors]);
    expect(back.meta.content_fingerprint).toBe("abcdef0123456789");
    expect([...scoreRepos(back, "flask app", ["a", "b", "c"])]).toEqual([
      ...scoreRepos(m, "flask app", ["a", "b", "c"]),
    ]);
  });
  test("rejects foreign or truncated artifacts", () => {
    const m = randomModel(["a"], ["x y z"]);
    const a = modelToArtifacts(m);
    expect(() => modelFromArtifacts({ ...a, modelTopology: { format: "other" } })).toThrow();
    expect(() => modelFromArtifacts({ ...a, weightData: a.weightData.slice(0, 8) })).toThrow();
  });
  test("encodings are unit vectors; unknown text encodes to zeros; new repos use their text", () => {
    const m = randomModel(["a", "b"], ["flask web app"]);
    const v = encode(m, "flask app");
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    expect([...encode(m, "qqqq zzzz")].every((x) => x === 0)).toBe(true);
    const s = scoreRepos(m, "flask", ["a", "new-repo"], (i) => (i === 1 ? "flask web app" : ""));
    expect(s[1]).not.toBe(0);
    expect(scoreRepos(m, "flask", ["new-repo"])[0]).toBe(0);
  });
});
