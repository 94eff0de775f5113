/**
 * Programming concepts in everyday words: the developer's term a
 * repository's description, name or topics uses ("hash", "stdin",
 * "memoization", "camelcase") → the plain words a person asking for it would
 * use ("digest checksum fingerprint of data"). The word vectors (GloVe, news
 * text) know these words in their everyday sense only — "string" sits near
 * "guitar", "promise" near "pledge", "stream" near "river" — so a question
 * phrased as a need never meets the jargon that answers it. Applied like the
 * technology glossary (tech-glossary.ts), whose words it does not repeat.
 *
 * The entries (glossaries/concept-glossary.json, each with its source) cover the
 * words of developers' repository descriptions and package descriptions in
 * general, not any one user's. Plurals and spelling variants are their own
 * keys, since the lookup is on unstemmed words. A word whose plain sense is
 * as likely as its technical one ("map", "stack", "fork", "token") is left
 * out: its gloss would be wrong as often as right. The words of README
 * headings and `.repo-context.json` are not a source of entries: glossing
 * them does not carry over to fresh questions (BENCHMARKS.md).
 */
import data from "./glossaries/concept-glossary.json" with { type: "json" };
import { glossaryMap } from "./glossary-data.ts";

/** Concept word → gloss. */
export const CONCEPT_GLOSS: Record<string, string> = glossaryMap("concept-glossary.json", data.entries);
