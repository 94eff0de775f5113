/**
 * Rules for a repo record's derived fields, shared by the sync worker (which
 * builds records from GitHub) and the fixture loader of the ranking eval
 * (which builds them from fixture files), so both fill them the same way.
 */

/** Parses `.repo-context.json` leniently: a JSON object is taken as it is; anything else is an error string. */
export function parseRepoContext(text: string): { value: Record<string, unknown>; error?: string } {
  if (!text.trim()) return { value: {} };
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
