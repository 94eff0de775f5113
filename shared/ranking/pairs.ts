/**
 * Training pairs (text → repo) generated from a bundle: each repo's name,
 * description, topics, `.repo-context.json` fields, README / SKILLS-INDEX /
 * ARCHITECTURE headings and short passages, and languages. A deterministic,
 * content-keyed share of the pairs is held out: the promotion gate ranks
 * with them. The split depends only on (repo, text), so the same passage is
 * held out for every bundle version, and an older model was not trained on
 * the pairs a newer one is judged by.
 */
import { fnv1a, rng, shuffle } from "./hash.ts";
import { markdownSections, nameToText, type RankableRepo } from "./text-fields.ts";
import { tokenize } from "./tokenizer.ts";

export interface Pair {
  text: string;
  repo: number;
  /** Where the text came from (debugging, weighting). */
  kind: "name" | "description" | "topics" | "context" | "heading" | "passage" | "languages";
}

export interface PairSet {
  train: Pair[];
  heldOut: Pair[];
}

export interface PairOptions {
  seed?: number;
  /** Most pairs per repo (passages are sampled deterministically beyond it). */
  maxPerRepo?: number;
  /** Share of pairs held out, 0..1. */
  heldOutShare?: number;
}

/**
 * Most training pairs per repository. Identity pairs (name, description,
 * topics, context, headings) come first and passages fill the rest, so a
 * lower cap mostly trims passages of long READMEs: each repository then
 * weighs about the same in training instead of the most verbose ones
 * dominating the softmax, and the identity pairs (the closest thing to a
 * person's statement of a need) make up more of what the encoder learns
 * from. A much lower cap starves repos whose identity lives in their README.
 */
export const DEFAULT_MAX_PER_REPO = 40;

/** Headings that say nothing about what a repository is. */
const GENERIC_HEADINGS = new Set(
  (
    "install installation usage license api example examples contributing contribute related faq author authors " +
    "maintainers credits features requirements getting started setup test tests testing support table of contents " +
    "contents overview introduction description tasks files resources learning objectives quick start how to use " +
    "options methods returns parameters development build deploy deployment prerequisites notes todo changelog " +
    "acknowledgements acknowledgments environment project structure directory structure structure tips links usage " +
    "general requirements more info readme screenshot screenshots demo download dev"
  ).split(" "),
);

function isGenericHeading(h: string): boolean {
  const t = h.toLowerCase().replace(/[^a-z ]+/g, " ").trim();
  return !t || GENERIC_HEADINGS.has(t) || t.split(/\s+/).every((w) => GENERIC_HEADINGS.has(w));
}

/** Splits prose into sentences, then into windows of at most `max` words. */
export function passages(text: string, min = 3, max = 14): string[] {
  const out: string[] = [];
  const sentences = text
    .replace(/\s+/g, " ")
    .split(/(?<=[.!?;:])\s+|\s[-*•|]\s|\s{2,}/)
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of sentences) {
    const w = s.split(" ");
    for (let i = 0; i < w.length; i += max) {
      const chunk = w.slice(i, i + max);
      if (tokenize(chunk.join(" ")).length >= min) out.push(chunk.join(" "));
    }
  }
  return out;
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

function contextPairs(ctx: Record<string, unknown>): string[] {
  const out: string[] = [];
  const visit = (v: unknown, depth: number) => {
    if (depth > 6 || v == null) return;
    if (typeof v === "string") {
      if (v.length > 2 && !/^(https?:|\.?\/)/.test(v) && !/\.(py|js|ts|json|md|sh|c|h)(#|$)/.test(v)) {
        for (const p of v.length > 120 ? passages(v, 2, 16) : [v]) out.push(p);
      }
    } else if (Array.isArray(v)) {
      const strs = v.filter((x): x is string => typeof x === "string");
      if (strs.length === v.length && strs.every((s) => s.length < 60)) {
        for (const c of chunks(strs, 2)) out.push(c.join(", "));
      } else for (const x of v) visit(x, depth + 1);
    } else if (typeof v === "object") {
      for (const x of Object.values(v as Record<string, unknown>)) visit(x, depth + 1);
    }
  };
  visit(ctx, 0);
  return out;
}

/** All candidate pair texts of one repo, before sampling. */
export function repoPairTexts(r: RankableRepo): Array<Omit<Pair, "repo">> {
  const out: Array<Omit<Pair, "repo">> = [];
  const add = (text: string, kind: Pair["kind"]) => {
    const t = text.replace(/\s+/g, " ").trim();
    if (t && tokenize(t).length) out.push({ text: t.slice(0, 300), kind });
  };
  add(nameToText(r.name), "name");
  if (r.metadata?.description) add(r.metadata.description, "description");
  const topics = (r.metadata?.topics ?? []).map((t) => t.replace(/-/g, " "));
  for (const c of chunks(topics, 2)) add(c.join(" "), "topics");
  for (const t of contextPairs(r.repoContext ?? {})) add(t, "context");
  for (const doc of [r.readme, r.skills_index, r.architecture]) {
    for (const s of markdownSections(doc)) {
      const heading = s.heading.replace(/[^\p{L}\p{N}\s.+#-]/gu, " ").trim();
      if (heading && !isGenericHeading(heading)) add(heading, "heading");
      for (const p of passages(s.body)) add(p, "passage");
    }
  }
  const langs = Object.keys(r.languages ?? {}).slice(0, 3);
  if (langs.length) add(langs.join(" "), "languages");
  // de-duplicate
  const seen = new Set<string>();
  return out.filter((p) => {
    const k = p.text.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function isHeldOut(repoName: string, text: string, share: number): boolean {
  return fnv1a(`${repoName}\u0000${text.toLowerCase()}`) % 1000 < share * 1000;
}

export function generatePairs(repos: RankableRepo[], opts: PairOptions = {}): PairSet {
  const seed = opts.seed ?? 42;
  const maxPerRepo = opts.maxPerRepo ?? DEFAULT_MAX_PER_REPO;
  const share = opts.heldOutShare ?? 0.15;
  const train: Pair[] = [];
  const heldOut: Pair[] = [];
  repos.forEach((r, i) => {
    const all = repoPairTexts(r);
    const rand = rng(seed ^ fnv1a(r.name));
    // Short, identity-bearing pairs always kept; passages sampled to the cap.
    const core = all.filter((p) => p.kind !== "passage");
    const rest = shuffle(all.filter((p) => p.kind === "passage"), rand);
    const chosen = [...core.slice(0, maxPerRepo), ...rest].slice(
      0,
      Math.max(maxPerRepo, Math.min(core.length, maxPerRepo)),
    );
    const mine: Pair[] = chosen.map((p) => ({ ...p, repo: i }));
    const held = mine.filter((p) => p.kind !== "name" && isHeldOut(r.name, p.text, share));
    const kept = mine.filter((p) => !held.includes(p));
    // Keep at least two training pairs per repo.
    while (kept.length < 2 && held.length) kept.push(held.pop()!);
    train.push(...kept);
    heldOut.push(...held);
  });
  return { train, heldOut };
}
