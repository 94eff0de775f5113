import { describe, expect, test } from "bun:test";
import { BundleIndex } from "../../shared/ranking/ranker.ts";
import { tokenize } from "../../shared/ranking/tokenizer.ts";

const q = (s: string) => {
  const m = new Map<string, number>();
  for (const t of tokenize(s)) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
};

describe("gated name signal", () => {
  const idx = new BundleIndex([
    { name: "alx-interview", readme: "# alx-interview" },
    { name: "alx-backend", readme: "Caching, pagination and i18n exercises for web projects." },
    { name: "web-projects", readme: "Projects for the web, written with a web framework." },
    { name: "sorting_algorithms", readme: "Bubble, insertion and quick sort in C for projects." },
  ]);

  test("silent when no query word is a name word", () => {
    const { gate, scores } = idx.nameSignal(q("caching and pagination exercises"));
    expect(gate).toBe(0);
    expect([...scores].every((s) => s === 0)).toBe(true);
  });

  test("speaks for the repos whose names hold the query's words (stemmed)", () => {
    const { gate, scores } = idx.nameSignal(q("practice for technical interviews"));
    expect(gate).toBeGreaterThan(0);
    expect(scores[0]).toBeGreaterThan(0);
    expect(scores[1]).toBe(0);
    expect(scores[2]).toBe(0);
    expect(scores[3]).toBe(0);
  });

  test("a name word common across texts adds less than a rare one", () => {
    const common = idx.nameSignal(q("projects")).scores[2];
    const rare = idx.nameSignal(q("interview")).scores[0];
    expect(rare).toBeGreaterThan(common);
  });
});
