import { describe, expect, test } from "bun:test";
import { salientBase, salientParts, salientText } from "../../shared/ranking/align.ts";
import { BundleIndex, SCARCE_TEXT_TERMS } from "../../shared/ranking/ranker.ts";
import { CONCEPT_GLOSS } from "../../shared/ranking/concept-glossary.ts";
import { LANGUAGE_GLOSS, languageKey, techGloss, TERM_GLOSS } from "../../shared/ranking/tech-glossary.ts";
import { tokenize } from "../../shared/ranking/tokenizer.ts";

const q = (s: string) => {
  const m = new Map<string, number>();
  for (const t of tokenize(s)) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
};

describe("tech glossary", () => {
  test("linguist language names map to keys as words() writes them", () => {
    expect(languageKey("C#")).toBe("csharp");
    expect(languageKey("C++")).toBe("cpp");
    expect(languageKey("Objective-C")).toBe("objective c");
    expect(languageKey("Jupyter Notebook")).toBe("jupyter notebook");
    // Camel-case names stay one word: the glossary's keys are "javascript", not "java script".
    expect(languageKey("JavaScript")).toBe("javascript");
    expect(languageKey("TypeScript")).toBe("typescript");
    expect(languageKey("PowerShell")).toBe("powershell");
    expect(techGloss("", { JavaScript: 10 }, "JavaScript")).toBe(LANGUAGE_GLOSS.javascript);
    for (const k of ["csharp", "cpp", "objective c", "jupyter notebook", "dockerfile", "hcl", "shell"]) {
      expect(LANGUAGE_GLOSS[k]).toBeTruthy();
    }
  });

  test("languages count from a tenth of the bytes (the primary one always); terms from the text", () => {
    const g = techGloss("deploy with kubernetes and terraform", { "C#": 900, Dockerfile: 50, HCL: 200 }, null);
    expect(g).toContain(LANGUAGE_GLOSS.csharp);
    expect(g).toContain(LANGUAGE_GLOSS.hcl);
    expect(g).not.toContain(LANGUAGE_GLOSS.dockerfile); // 50 of 1150 bytes
    expect(g).toContain(TERM_GLOSS.kubernetes);
    expect(g).toContain(TERM_GLOSS.terraform);
    expect(techGloss("", { Dockerfile: 1, Python: 99 }, "Dockerfile")).toContain(LANGUAGE_GLOSS.dockerfile);
    // Each gloss once, nothing for unknown words or an empty repo.
    expect(techGloss("docker docker docker", null).split(TERM_GLOSS.docker).length).toBe(2);
    expect(techGloss("a plain sentence about gardening", {})).toBe("");
    // Not a prototype property lookup.
    expect(techGloss("valueof hasOwnProperty isPrototypeOf", {})).toBe("");
  });

  test("the gloss joins a repository's salient text", () => {
    const repo = { name: "csharp_projects", readme: "first commit", languages: { "C#": 11544 } };
    expect(salientParts(repo).gloss).toContain("microsoft");
    expect(salientText(repo)).toContain("microsoft");
    const plain = { name: "gardening-notes", readme: "Notes on roses." };
    expect(salientText(plain)).toBe(salientBase(plain));
  });
});

describe("concept glossary", () => {
  test("a programming concept in the salient text brings its everyday words", () => {
    const repo = { name: "crypto-hash", description: "Hash a string", readme: "" };
    expect(salientParts(repo).gloss).toContain(CONCEPT_GLOSS.hash);
    expect(salientParts(repo).concepts).toContain(CONCEPT_GLOSS.hash);
    expect(salientText(repo)).toContain("digest");
    expect(techGloss("Copy to the clipboard", {})).toContain(CONCEPT_GLOSS.clipboard);
    // The technology glossary answers first; a word is glossed once.
    expect(techGloss("docker", {})).toBe(TERM_GLOSS.docker);
    // Words as likely everyday as technical have no entry ("node" is a tree's node as often as Node.js).
    for (const w of ["node", "map", "stack", "fork", "token", "tiny", "user"]) {
      expect(Object.hasOwn(CONCEPT_GLOSS, w)).toBe(false);
    }
  });

  test("entries are plain lower-case words that do not repeat their key, and no key is a technology term", () => {
    const keys = Object.keys(CONCEPT_GLOSS);
    expect(keys.length).toBeGreaterThan(300);
    for (const [k, g] of Object.entries(CONCEPT_GLOSS)) {
      expect(k).toMatch(/^[a-z]+$/);
      expect(g).toMatch(/^[a-z]+( [a-z]+){1,11}$/);
      expect(g.split(" ")).not.toContain(k);
      expect(Object.hasOwn(TERM_GLOSS, k)).toBe(false);
    }
  });
});

describe("the fusion's BM25 reads the tech gloss of repos with scarce text only, the concept gloss of every repo", () => {
  const longReadme = "A console program for managing records, saved to a json file and loaded back. ".repeat(12);
  const idx = new BundleIndex([
    { name: "csharp_projects", readme: "first commit", languages: { "C#": 11544 } },
    { name: "records-console", readme: longReadme + " Written in C#.", languages: { "C#": 500 } },
    { name: "printf", readme: "My own printf in C.", languages: { C: 4000 } },
    {
      name: "crypto-hash",
      readme: "Uses the native crypto API of the platform, in the browser and on the server. ".repeat(20),
      metadata: { description: "Tiny hashing module" },
    },
  ]);

  test("a repo that says 'hashing' is reached by 'digest' and 'checksum'; the plain BM25 cannot", () => {
    expect(tokenize(idx.texts[3]).length).toBeGreaterThanOrEqual(SCARCE_TEXT_TERMS);
    const question = q("make a digest or checksum of some text");
    expect([...idx.bm25.score(question)]).toEqual([0, 0, 0, 0]);
    const fused = idx.fusionBm25.score(question);
    expect(fused[3]).toBeGreaterThan(0);
    expect(fused[3]).toBeGreaterThan(Math.max(fused[0], fused[1], fused[2]));
  });

  test("a name-only C# repo is reached by what C# is; the plain BM25 cannot", () => {
    expect(tokenize(idx.texts[1]).length).toBeGreaterThanOrEqual(SCARCE_TEXT_TERMS);
    const plain = idx.bm25.score(q("microsoft dotnet"));
    const fused = idx.fusionBm25.score(q("microsoft dotnet"));
    expect([...plain]).toEqual([0, 0, 0, 0]);
    expect(fused[0]).toBeGreaterThan(0);
    // The repo with a README of its own is left as it wrote itself.
    expect(fused[1]).toBe(0);
    expect(fused[2]).toBe(0);
  });
});
