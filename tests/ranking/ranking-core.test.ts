import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Bm25Index } from "../../shared/ranking/bm25.ts";
import { fuseScores, maxNormalize, minMaxNormalize, rankIndices } from "../../shared/ranking/fusion.ts";
import { ndcgAt, recallAt, reciprocalRank, summarize } from "../../shared/ranking/metrics.ts";
import {
  cleanMarkdown,
  flattenContext,
  identityText,
  nameToText,
  repoFields,
  repoText,
  sentenceText,
} from "../../shared/ranking/text-fields.ts";
import { splitIdentifier, stem, tokenize, words } from "../../shared/ranking/tokenizer.ts";
import { loadFixtureBundle, loadQueries } from "../../shared/ranking/fixture-bundle.ts";
import { BundleIndex, IDENTITY_WEIGHT } from "../../shared/ranking/ranker.ts";
import { githubFixturesDir, queriesDir } from "../support/paths.ts";

describe("tokenizer", () => {
  test("splits identifiers and case", () => {
    expect(splitIdentifier("imageProcessor-FA")).toEqual(["image", "Processor", "FA"]);
    expect(splitIdentifier("KeyboardShortcuts")).toEqual(["Keyboard", "Shortcuts"]);
    expect(nameToText("alx-backend")).toBe("alx backend alx-backend");
    expect(nameToText("monty")).toBe("monty");
  });
  test("drops stop words, keeps meaningful short tokens, stems", () => {
    expect(tokenize("The C programming projects")).toEqual(["c", "program", "project"]);
    expect(stem("validation")).toBe(stem("validate"));
    expect(stem("apps")).toBe("app");
    expect(stem("libraries")).toBe(stem("library"));
    // Four-letter words ending in y meet their inflections: "copy", "copied" and "copies" share one stem.
    expect(stem("copy")).toBe(stem("copied"));
    expect(stem("copies")).toBe(stem("copy"));
    expect(stem("easy")).toBe(stem("easier"));
    expect(stem("key")).toBe("key");
    expect(tokenize("C++ and C# on .NET")).toEqual(["cpp", "csharp", "dotnet"]);
  });

  test("words() keeps a camel-case word whole beside its parts (the word vectors know 'javascript'); index terms keep the parts", () => {
    expect(words("JavaScript and imageProcessor")).toEqual([
      "javascript",
      "java",
      "script",
      "and",
      "imageprocessor",
      "image",
      "processor",
    ]);
    expect(words("javascript AirBnB_clone_v2")).toEqual(["javascript", "airbnb", "air", "bn", "b", "clone", "v2"]);
    expect(tokenize("JavaScript")).toEqual(["java", "script"]);
  });
});

describe("bm25", () => {
  const docs = [
    "flask web application with jinja templates",
    "c programming linked lists recursion pointers",
    "azure functions serverless python function app",
    "flask flask flask api",
  ];
  const idx = Bm25Index.fromTexts(docs);
  test("ranks the matching documents first", () => {
    const order = rankIndices(idx.scoreText("serverless azure"));
    expect(order[0]).toBe(2);
    const flask = rankIndices(idx.scoreText("flask"));
    expect(flask.slice(0, 2).sort()).toEqual([0, 3]);
    expect(idx.scoreText("flask")[1]).toBe(0);
  });
  test("term frequency saturates (k1) and rare terms weigh more (idf)", () => {
    const s = idx.scoreText("flask");
    expect(s[3]).toBeGreaterThan(s[0]);
    expect(s[3]).toBeLessThan(3 * s[0]);
    expect(idx.idf("recurs")).toBeGreaterThan(idx.idf("flask"));
  });
  test("weighted query terms scale the contribution", () => {
    const one = idx.score(new Map([["flask", 1]]));
    const half = idx.score(new Map([["flask", 0.5]]));
    expect(half[0]).toBeCloseTo(one[0] / 2, 10);
  });
});

describe("metrics", () => {
  test("nDCG@5, MRR and recall@5 on known lists", () => {
    expect(ndcgAt(["a", "b", "c"], ["a", "b"])).toBeCloseTo(1, 10);
    const v = ndcgAt(["x", "a"], ["a"]);
    expect(v).toBeCloseTo(1 / Math.log2(3), 10);
    expect(reciprocalRank(["x", "y", "a"], ["a"])).toBeCloseTo(1 / 3, 10);
    expect(reciprocalRank(["x"], ["a"])).toBe(0);
    expect(recallAt(["a", "x", "y", "z", "w", "b"], ["a", "b"])).toBe(0.5);
    expect(recallAt(["a", "b"], ["a", "b", "c", "d", "e", "f", "g"])).toBeCloseTo(2 / 5, 10);
    const s = summarize([{ ranked: ["a"], relevant: ["a"] }, { ranked: ["b"], relevant: ["a"] }]);
    expect(s).toEqual({ "ndcg@5": 0.5, mrr: 0.5, "recall@5": 0.5 });
  });
});

describe("fusion", () => {
  test("normalises each list and mixes", () => {
    expect([...maxNormalize([0, 2, 4])]).toEqual([0, 0.5, 1]);
    expect([...minMaxNormalize([-1, 0, 1])]).toEqual([0, 0.5, 1]);
    const f = fuseScores([0, 10, 5], [0.9, 0.1, 0.5], { alpha: 0.3 });
    expect(rankIndices(f)).toEqual([1, 2, 0]);
    const m = fuseScores([0, 10, 5], [0.9, 0.1, 0.5], { alpha: 1 });
    expect(rankIndices(m)).toEqual([0, 2, 1]);
    expect([...fuseScores([0, 0], null)]).toEqual([0, 0]);
  });
});

describe("text fields", () => {
  test("code blocks, badges and URLs are not searchable", () => {
    const md =
      "# Tool\nUseful words here.\n\n```js\nconst secretToken = 1;\n```\n![badge](https://x/y.svg) see https://example.com/zzz [docs](https://d.example)";
    const clean = cleanMarkdown(md);
    expect(clean).toContain("Useful words");
    expect(clean).not.toContain("secretToken");
    expect(clean).not.toContain("example.com");
    expect(clean).toContain("docs");
  });
  test(".repo-context.json is flattened leniently", () => {
    const parts = flattenContext({
      project_identity: { name: "Thing", description: "Serverless validator" },
      tech_stack: { primary: ["Azure Functions", 3, null], weird: { deep: ["Flask"] } },
      components: { token_checker: { path: "app.py", description: "checks tokens" } },
    });
    const all = parts.join(" ");
    expect(all).toContain("Serverless validator");
    expect(all).toContain("Flask");
    expect(all).toContain("token checker");
    expect(all).not.toContain("app.py");
    expect(flattenContext(null)).toEqual([]);
  });
  test("the sentence encoder reads name, description and README start; a repo with neither, its languages too", () => {
    const bare = {
      name: "blog",
      metadata: { description: null, language: "Python" },
      languages: { Python: 9, HTML: 3 },
    };
    expect(sentenceText(repoFields(bare))).toBe("blog. written in Python, HTML");
    const described = {
      ...bare,
      metadata: { description: "Posts, comments and tags for a small Django site with a markdown editor" },
    };
    expect(sentenceText(repoFields(described))).toBe(
      "blog. Posts, comments and tags for a small Django site with a markdown editor",
    );
    expect(sentenceText(repoFields({ name: "x", readme: "" }))).toBe("x");
  });
  test("a record's text has name words, description, topics, languages", () => {
    const f = repoFields({
      name: "imageProcessor-FA",
      metadata: { description: "Resize images", topics: ["image-processing"], language: "Python" },
      languages: { Python: 10, Shell: 2 },
      repoContext: {},
      readme: "",
      skills_index: "",
      architecture: "",
    });
    const t = repoText(f);
    for (const w of ["image", "Processor", "Resize images", "image processing", "Python", "Shell"]) {
      expect(t).toContain(w);
    }
  });
});

describe("fixture baseline", () => {
  test("BM25 over all of a repo's text scores nDCG@5 ≈ 0.92 on the yungryce dev set", () => {
    const bundle = loadFixtureBundle(join(githubFixturesDir, "yungryce"));
    expect(bundle.repos.length).toBe(48);
    const idx = new BundleIndex(bundle.repos);
    const qs = loadQueries(join(queriesDir, "yungryce.jsonl"));
    const s = summarize(qs.map((q) => ({ ranked: idx.rankNames(q.query, { mode: "bm25" }), relevant: q.relevant })));
    expect(s["ndcg@5"]).toBeGreaterThan(0.9);
    expect(s.mrr).toBeGreaterThan(0.95);
  });
});

describe("identity signal", () => {
  const described = (name: string, description: string) => ({
    name,
    metadata: { description, topics: [] },
    readme: `# ${name}\nSome notes.`,
  });
  test("identity text: description, topics and the context's project identity", () => {
    const t = identityText({
      name: "x",
      metadata: { description: "Resize images", topics: ["image-tools"] },
      repoContext: { project_identity: { description: "An image resizer" }, tech_stack: { primary: ["Go"] } },
    });
    expect(t).toContain("Resize images");
    expect(t).toContain("image tools");
    expect(t).toContain("An image resizer");
    expect(t).not.toContain("Go");
  });
  test("speaks only when most repositories have identity text", () => {
    const rich = new BundleIndex([
      described("a", "A fast command line tool for resizing many images at once"),
      described("b", "Parse and validate email addresses in forms with clear messages"),
      described("c", "Render markdown documents to terminal output with colours and links"),
    ]);
    expect(rich.identityWeight).toBeGreaterThan(0);
    expect(rich.identityWeight).toBeLessThanOrEqual(IDENTITY_WEIGHT);
    const bare = new BundleIndex([
      described("a", "A fast command line tool for resizing many images at once"),
      { name: "alx_backend_storage", readme: "# 0x00" },
      { name: "alx-higher_level_programming", readme: "# tasks" },
    ]);
    expect(bare.identityWeight).toBe(0);
  });
});
