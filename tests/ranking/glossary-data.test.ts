import { describe, expect, test } from "bun:test";
import conceptData from "../../shared/ranking/glossaries/concept-glossary.json" with { type: "json" };
import techData from "../../shared/ranking/glossaries/tech-glossary.json" with { type: "json" };
import { CONCEPT_GLOSS } from "../../shared/ranking/concept-glossary.ts";
import { GLOSSARY_REFERENCES, glossaryMap, sourceReference } from "../../shared/ranking/glossary-data.ts";
import { LANGUAGE_GLOSS, languageKey, TERM_GLOSS } from "../../shared/ranking/tech-glossary.ts";
import { words } from "../../shared/ranking/tokenizer.ts";

const files = {
  "tech-glossary.json languages": techData.languages,
  "tech-glossary.json terms": techData.terms,
  "concept-glossary.json": conceptData.entries,
};

describe("glossary data files", () => {
  test("every entry is loaded, once, with a source naming a known reference", () => {
    expect(Object.keys(LANGUAGE_GLOSS)).toHaveLength(techData.languages.length);
    expect(Object.keys(TERM_GLOSS)).toHaveLength(techData.terms.length);
    expect(Object.keys(CONCEPT_GLOSS)).toHaveLength(conceptData.entries.length);
    for (const entries of Object.values(files)) {
      for (const e of entries) {
        expect(Object.hasOwn(GLOSSARY_REFERENCES, sourceReference(e.source))).toBe(true);
        expect(e.source.length).toBeGreaterThan(sourceReference(e.source).length + 3);
      }
    }
  });

  test("every reference is named by some entry", () => {
    const used = new Set(Object.values(files).flat().map((e) => sourceReference(e.source)));
    expect([...used].sort()).toEqual(Object.keys(GLOSSARY_REFERENCES).sort());
  });

  test("keys are what the lookup sees: one word as words() yields it; languages as languageKey gives them", () => {
    for (const term of [...Object.keys(TERM_GLOSS), ...Object.keys(CONCEPT_GLOSS)]) expect(words(term)).toEqual([term]);
    for (const name of Object.keys(LANGUAGE_GLOSS)) expect(languageKey(name)).toBe(name);
  });

  test("the concept glossary repeats no technology word (the technology gloss is looked up first)", () => {
    expect(Object.keys(CONCEPT_GLOSS).filter((w) => Object.hasOwn(TERM_GLOSS, w))).toEqual([]);
  });

  test("a malformed glossary fails to load instead of dropping entries", () => {
    const ok = { term: "redis", gloss: "in memory key value store cache", source: "project: Redis, redis.io/docs" };
    expect(glossaryMap("t", [ok])).toEqual({ redis: ok.gloss });
    expect(() => glossaryMap("t", [ok, { ...ok, gloss: "another" }])).toThrow(/listed twice/);
    expect(() => glossaryMap("t", [{ ...ok, source: "blog: someone's post" }])).toThrow(/unknown reference/);
    expect(() => glossaryMap("t", [{ term: "redis", gloss: "cache" }])).toThrow();
    expect(() => glossaryMap("t", [{ ...ok, source: "" }])).toThrow();
    expect(() => glossaryMap("t", [{ ...ok, term: "__proto__" }])).toThrow();
    expect(() => glossaryMap("t", [{ ...ok, term: "Redis" }])).toThrow();
  });
});
