/**
 * A small glossary of developer technology: what a tool, framework,
 * service or language *is*, in plain words. The pretrained word vectors
 * (GloVe, 2014 news and encyclopedia text) know English but not the names of
 * software: "docker" sits next to surnames, "shell" next to oil companies,
 * "csharp" and "laravel" are absent. A person asking for "my container
 * setup" or "code in microsoft's language" uses the plain words; a
 * repository often says only the name (or only shows it as a language). The
 * gloss of each technology a repository names, or is written in, joins the
 * repository's salient words, where the word vectors can match it.
 *
 * Keys are words as `words()` yields them (lower case; "C#" → "csharp",
 * "C++" → "cpp", ".NET" → "dotnet"). The entries (glossaries/tech-glossary.json,
 * each with its source) cover widely used technology in general, not any one
 * user's; a word that is also everyday English with another meaning ("node",
 * "express", "heap", "babel") is left out, since its gloss would be wrong as
 * often as right.
 */
import data from "./glossaries/tech-glossary.json" with { type: "json" };
import { CONCEPT_GLOSS } from "./concept-glossary.ts";
import { glossaryMap } from "./glossary-data.ts";
import { words } from "./tokenizer.ts";

/** GitHub linguist language names (lower case, see languageKey) → gloss. */
export const LANGUAGE_GLOSS: Record<string, string> = glossaryMap("tech-glossary.json languages", data.languages);

/** Words found in a repository's salient text → gloss. */
export const TERM_GLOSS: Record<string, string> = glossaryMap("tech-glossary.json terms", data.terms);

/** Share of a repository's language bytes from which a language's gloss applies. */
export const LANGUAGE_MIN_SHARE = 0.1;

/**
 * The gloss text for a repository: the glosses of the languages it is
 * written in (by share of bytes, at least LANGUAGE_MIN_SHARE; the primary
 * language always) and of the technology words in `text` (its salient text),
 * else of its programming-concept words (concept-glossary.ts).
 * Each gloss once; "" when nothing is known.
 */
export function techGloss(
  text: string,
  languages: Record<string, number> | null | undefined,
  primary?: string | null,
): string {
  return glossParts(text, languages, primary).gloss;
}

/**
 * techGloss's text (`gloss`) and, apart, the concept glossary's part of it
 * (`concepts`: each concept gloss once, in the order its words appear), from
 * one pass over the text's words.
 */
export function glossParts(
  text: string,
  languages: Record<string, number> | null | undefined,
  primary?: string | null,
): { gloss: string; concepts: string } {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (g: string | undefined) => {
    if (g && !seen.has(g)) {
      seen.add(g);
      out.push(g);
    }
  };
  const concepts = new Set<string>();
  const langs = Object.entries(languages ?? {});
  const total = langs.reduce((s, [, n]) => s + (n > 0 ? n : 0), 0);
  const names = langs.filter(([, n]) => total > 0 && n / total >= LANGUAGE_MIN_SHARE).map(([l]) => l);
  if (primary) names.unshift(primary);
  for (const l of names) add(LANGUAGE_GLOSS[languageKey(l)]);
  for (const w of new Set(words(text))) {
    if (Object.hasOwn(TERM_GLOSS, w)) add(TERM_GLOSS[w]);
    else if (Object.hasOwn(CONCEPT_GLOSS, w)) {
      add(CONCEPT_GLOSS[w]);
      concepts.add(CONCEPT_GLOSS[w]);
    }
  }
  return { gloss: out.join(". "), concepts: [...concepts].join(". ") };
}

/**
 * A linguist language name as a LANGUAGE_GLOSS key ("C#" → "csharp", "Objective-C" → "objective c",
 * "JavaScript" → "javascript": lower-cased first, so a camel-case name stays one word).
 */
export function languageKey(name: string): string {
  return words(name.toLowerCase()).join(" ");
}
