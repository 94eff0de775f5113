/**
 * Rules for a repo record's derived fields, shared by the sync worker (which
 * builds records from GitHub) and the fixture loader of the ranking eval
 * (which builds them from fixture files), so both fill them the same way.
 */

/** Deepest nesting of arrays and objects a `.repo-context.json` may have (deeper ones are refused, not parsed). */
export const MAX_CONTEXT_DEPTH = 64;

/** The deepest nesting of `[`/`{` in JSON text, counted outside strings; stops counting past `limit`. */
export function jsonDepth(text: string, limit = Number.MAX_SAFE_INTEGER): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * Parses `.repo-context.json` leniently: a JSON object is taken as it is;
 * anything else — including nesting deeper than MAX_CONTEXT_DEPTH, which
 * would overflow the stack of whatever serialises the record later — is an
 * error string.
 */
export function parseRepoContext(text: string): { value: Record<string, unknown>; error?: string } {
  if (!text.trim()) return { value: {} };
  if (jsonDepth(text, MAX_CONTEXT_DEPTH) > MAX_CONTEXT_DEPTH) {
    return { value: {}, error: `.repo-context.json is nested deeper than ${MAX_CONTEXT_DEPTH} levels` };
  }
  try {
    const v = JSON.parse(text.replace(/^\uFEFF/, ""));
    if (v && typeof v === "object" && !Array.isArray(v)) return { value: v as Record<string, unknown> };
    return {
      value: {},
      error: `.repo-context.json is not a JSON object (got ${Array.isArray(v) ? "an array" : typeof v})`,
    };
  } catch (err) {
    return { value: {}, error: `.repo-context.json is not valid JSON: ${(err as Error).message}` };
  }
}

/** DESIGN.md: a repo is documented when it has a non-empty repo context and README. */
export function hasDocumentation(repoContext: Record<string, unknown>, readme: string): boolean {
  return Object.keys(repoContext).length > 0 && readme.trim().length > 0;
}
