/**
 * Repo record → the searchable text the ranking reads: the repository name
 * split into words, description, topics, the flattened `.repo-context.json`,
 * README / SKILLS-INDEX / ARCHITECTURE without code blocks, markup or URLs,
 * and the language names. One place, so BM25, the training pairs, the
 * content fingerprint and the model all read exactly the same text.
 */
import { splitIdentifier } from "./tokenizer.ts";

/** The subset of a RepoRecord the ranking reads (RepoRecord satisfies it). */
export interface RankableRepo {
  name: string;
  metadata?: { description?: string | null; topics?: string[]; language?: string | null } | null;
  languages?: Record<string, number> | null;
  repoContext?: Record<string, unknown> | null;
  readme?: string | null;
  skills_index?: string | null;
  architecture?: string | null;
}

export interface RepoFields {
  name: string;
  /** The name split into words ("imageProcessor-FA" → "image Processor FA imageProcessor-FA"). */
  nameText: string;
  description: string;
  topics: string[];
  /** Flattened `.repo-context.json` string values. */
  context: string;
  /** Context strings grouped by their top-level key (for training pairs). */
  contextParts: string[];
  readme: string;
  skills: string;
  architecture: string;
  languages: string[];
}

/** Removes fenced and indented code, HTML, images, badges, link targets and bare URLs. */
export function cleanMarkdown(md: string | null | undefined): string {
  if (!md) return "";
  let s = md.replace(/\r\n?/g, "\n");
  s = s.replace(/^\s*(```|~~~)[^\n]*\n[\s\S]*?(?:\n\s*\1[^\n]*(?=\n|$)|$)/gm, "\n");
  s = s.replace(/<!--[\s\S]*?-->/g, " ");
  s = s.replace(/<(script|style|svg)[\s\S]*?<\/\1>/gi, " ");
  s = s.replace(/!\[[^\]]*\]\([^)]*\)/g, " ");
  s = s.replace(/!\[[^\]]*\]\[[^\]]*\]/g, " ");
  s = s.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
  s = s.replace(/\[([^\]]*)\]\[[^\]]*\]/g, "$1");
  s = s.replace(/^\s*\[[^\]]+\]:\s*\S+.*$/gm, " ");
  s = s.replace(/<[^>\n]+>/g, " ");
  s = s.replace(/\bhttps?:\/\/\S+/g, " ");
  s = s.replace(/&[a-z]+;|&#\d+;/gi, " ");
  // indented code blocks (4+ spaces after a blank line), but not nested list items
  s = s.replace(/\n\n((?: {4,}|\t)(?![-*+] |\d+\. )[^\n]*\n?)+/g, "\n\n");
  return s;
}

/** Markdown → sections {heading, body} (body cleaned). */
export function markdownSections(md: string | null | undefined): Array<{ heading: string; body: string }> {
  const clean = cleanMarkdown(md);
  const out: Array<{ heading: string; body: string }> = [];
  let heading = "";
  let body: string[] = [];
  const flush = () => {
    const b = body.join("\n").trim();
    if (heading || b) out.push({ heading, body: b });
  };
  for (const line of clean.split("\n")) {
    const m = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m) {
      flush();
      heading = m[1];
      body = [];
    } else body.push(line);
  }
  flush();
  return out;
}

function collectStrings(v: unknown, out: string[], depth = 0): void {
  if (depth > 8 || v == null) return;
  if (typeof v === "string") {
    const t = v.trim();
    if (t && !/^(https?:|\.?\/|[\w./-]+\.(py|js|ts|json|md|yml|yaml|sh|c|h|php|cs)(#.*)?$)/i.test(t)) out.push(t);
  } else if (Array.isArray(v)) {
    for (const x of v) collectStrings(x, out, depth + 1);
  } else if (typeof v === "object") {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      // component maps: their keys are meaningful names ("recaptcha_validator")
      if (x && typeof x === "object" && !Array.isArray(x) && depth >= 1 && /[a-z]_[a-z]/i.test(k)) {
        out.push(k.replace(/_/g, " "));
      }
      collectStrings(x, out, depth + 1);
    }
  }
}

/** Flattens a parsed `.repo-context.json` into strings, grouped by top-level key. */
export function flattenContext(ctx: Record<string, unknown> | null | undefined): string[] {
  if (!ctx || typeof ctx !== "object") return [];
  const parts: string[] = [];
  for (const v of Object.values(ctx)) {
    const acc: string[] = [];
    collectStrings(v, acc, 1);
    if (acc.length) parts.push(acc.join(". "));
  }
  return parts;
}

export function nameToText(name: string): string {
  const parts = splitIdentifier(name);
  const joined = parts.join(" ");
  return joined.toLowerCase() === name.toLowerCase() ? joined : `${joined} ${name}`;
}

export function repoFields(r: RankableRepo): RepoFields {
  const contextParts = flattenContext(r.repoContext ?? undefined);
  const languages = Object.keys(r.languages ?? {});
  const lang = r.metadata?.language;
  if (lang && !languages.includes(lang)) languages.unshift(lang);
  return {
    name: r.name,
    nameText: nameToText(r.name),
    description: r.metadata?.description ?? "",
    topics: (r.metadata?.topics ?? []).map((t) => t.replace(/-/g, " ")),
    context: contextParts.join(". "),
    contextParts,
    readme: cleanMarkdown(r.readme),
    skills: cleanMarkdown(r.skills_index),
    architecture: cleanMarkdown(r.architecture),
    languages,
  };
}

/** All of a repo's searchable text in one string (what BM25 indexes). */
export function repoText(f: RepoFields): string {
  return [
    f.nameText,
    f.description,
    f.topics.join(" "),
    f.context,
    f.readme,
    f.skills,
    f.architecture,
    f.languages.join(" "),
  ]
    .filter(Boolean)
    .join("\n");
}

/** A short summary line used in grounded answers. */
export function repoSummary(f: RepoFields): string {
  if (f.description) return f.description;
  // The first context group is usually project_identity: name, type, scope, then a
  // description sentence. Prefer that sentence, then the README's first paragraph,
  // over the short labels around it.
  const pieces = (f.contextParts[0] ?? "").split(". ").filter(Boolean);
  const sentence = pieces.find((p) => p.trim().split(/\s+/).length >= 6);
  if (sentence) return sentence;
  for (const s of markdownSections(f.readme)) {
    const body = s.body.replace(/\s+/g, " ").trim();
    if (body.length > 20) return body.slice(0, 200);
  }
  if (pieces.length) return pieces.slice(0, 3).join(". ");
  return f.nameText;
}

/**
 * A repository's identity text: what it says it is (description, topics,
 * the `.repo-context.json` project identity), without the name or the README.
 * Many repositories have none; see IDENTITY_WEIGHT in ranker.ts.
 */
export function identityText(r: RankableRepo): string {
  const f = repoFields(r);
  const parts = [f.description, f.topics.join(" ")];
  const pid = r.repoContext && typeof r.repoContext === "object"
    ? (r.repoContext as Record<string, unknown>)["project_identity"]
    : undefined;
  if (pid && typeof pid === "object") {
    const acc: string[] = [];
    collectStrings(pid, acc, 1);
    parts.push(acc.join(". "));
  }
  return parts.filter(Boolean).join(". ");
}

/** Characters of the README start that the sentence encoder reads. */
export const SENTENCE_README_CHARS = 600;

/** A repository whose description and README together are shorter than this says what it is in its languages too. */
export const SENTENCE_SCARCE_CHARS = 60;

/**
 * What the pretrained sentence encoder reads of a repository
 * (sentence-encoder.ts): the name's words, the description and the start of
 * the README — what a person would read to decide what the repository is for.
 * A repository with (almost) neither — course exercises, a "blog" with no
 * README — is also described by its languages ("blog. written in Python,
 * HTML"), since a bare name tells the encoder too little to place it near a
 * question about what it does. Empty parts are left out rather than joined
 * as ". . ".
 */
export function sentenceText(f: RepoFields): string {
  const parts = [f.nameText, f.description, f.readme.slice(0, SENTENCE_README_CHARS)].filter((p) => p.trim());
  if ((f.description + f.readme).trim().length < SENTENCE_SCARCE_CHARS && f.languages.length) {
    parts.push(`written in ${f.languages.join(", ")}`);
  }
  return parts.join(". ");
}
