/**
 * The glossaries' data files (glossaries/tech-glossary.json, glossaries/concept-glossary.json):
 * each entry is a term, its gloss in plain words and the public reference the
 * gloss states. `source` is a key of glossaries/glossary-references.json (which says
 * what kind of reference it is), a colon, and the item within it: a language
 * name, a project's documentation, an RFC, a dictionary entry. The data is
 * checked as it loads, so a malformed entry fails at start-up rather than
 * silently dropping out of the rankings.
 */
import { z } from "zod";
import references from "./glossaries/glossary-references.json" with { type: "json" };

/** The public references an entry's source may name, by key. */
export const GLOSSARY_REFERENCES: Readonly<Record<string, string>> = references;

export const GlossaryEntrySchema = z.object({
  /** Words as `words()` yields them: lower-case letters and digits, space-separated. */
  term: z.string().regex(/^[a-z0-9]+( [a-z0-9]+)*$/),
  gloss: z.string().trim().min(1),
  /** "<reference key>: <item>", e.g. "ietf: RFC 6455, The WebSocket Protocol". */
  source: z.string().regex(/^[a-z0-9]+: \S/),
});
export type GlossaryEntry = z.infer<typeof GlossaryEntrySchema>;

/** The source's reference key ("ietf" of "ietf: RFC 6455…"). */
export function sourceReference(source: string): string {
  return source.slice(0, source.indexOf(":"));
}

/**
 * A glossary's entries as term → gloss, in file order. Throws on an entry
 * that does not match GlossaryEntrySchema, a term listed twice (the second
 * would silently win) or a source naming no known reference.
 */
export function glossaryMap(file: string, entries: unknown): Record<string, string> {
  const list = z.array(GlossaryEntrySchema).parse(entries);
  const out: Record<string, string> = {};
  for (const e of list) {
    if (Object.hasOwn(out, e.term)) throw new Error(`${file}: "${e.term}" is listed twice`);
    if (!Object.hasOwn(GLOSSARY_REFERENCES, sourceReference(e.source))) {
      throw new Error(`${file}: "${e.term}" names an unknown reference (${e.source})`);
    }
    out[e.term] = e.gloss;
  }
  return out;
}
