/**
 * Tokenizer shared by BM25, the training pairs and the model's features.
 * Runtime-neutral (Bun, Deno, browsers): plain string work only.
 *
 * text → words: Unicode-normalised, camelCase and snake/kebab case split,
 * lower-cased, English stop words dropped, lightly stemmed so that
 * "validation"/"validate"/"validating" and "apps"/"app" meet.
 */

const STOP = new Set(
  (
    "a about above after again against all also am an and any are as at be because been before being below between both " +
    "but by can could did do does doing down during each etc few for from further had has have having he her here hers " +
    "him his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other " +
    "our ours out over own same she should so some such than that the their theirs them then there these they this " +
    "those through to too under until up us very was we were what when where which while who whom why will with would " +
    "you your yours yourself via using use used uses e g eg ie vs get gets got let lets make makes made one two way " +
    "something anything thing things want wants need needs like"
  ).split(" "),
);

/** Words kept even though they look like stop words or are short. */
const KEEP_SHORT = new Set([
  "c",
  "r",
  "go",
  "js",
  "ts",
  "ai",
  "ui",
  "ux",
  "db",
  "os",
  "io",
  "ci",
  "cd",
  "vm",
  "qa",
  "ml",
  "ip",
  "id",
]);

export function isStopWord(w: string): boolean {
  return STOP.has(w);
}

/** A word that carries meaning for word-vector matching: two or more letters and not a stop word. */
export function isContentWord(w: string): boolean {
  return w.length >= 2 && !STOP.has(w);
}

/** Splits "imageProcessor-FA", "AirBnB_clone_v2", "KeyboardShortcuts" into words (original case). */
export function splitIdentifier(s: string): string[] {
  return s
    .replace(/([a-z0-9])([A-Z][a-z])/g, "$1 $2")
    .replace(/([a-z])([A-Z])(?=[A-Z]*$)/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
}

const VOWEL = /[aeiouy]/;

/** A light, deterministic English stemmer (Porter-like, a handful of rules). */
export function stem(w: string): string {
  if (w.length <= 3 || /\d/.test(w)) return w;
  let s = w;
  // plurals
  if (s.endsWith("sses")) s = s.slice(0, -2);
  else if (s.endsWith("ies") && s.length > 4) s = s.slice(0, -3) + "y";
  else if (/(xes|ches|shes|zes)$/.test(s)) s = s.slice(0, -2);
  else if (s.endsWith("s") && !/(ss|us|is|os)$/.test(s) && s.length > 3) s = s.slice(0, -1);
  // derivational endings, longest first
  const rules: Array<[string, string, number]> = [
    ["izations", "ize", 4],
    ["ization", "ize", 4],
    ["ational", "ate", 4],
    ["ations", "ate", 3],
    ["ation", "ate", 3],
    ["ments", "", 4],
    ["ment", "", 4],
    ["ness", "", 4],
    ["fully", "ful", 4],
    ["ingly", "", 4],
    ["ities", "", 4],
    ["ity", "", 4],
    ["izer", "ize", 4],
    ["iser", "ize", 4],
    ["ising", "ize", 3],
    ["izing", "ize", 3],
    ["ised", "ize", 3],
    ["ized", "ize", 3],
    ["ise", "ize", 3],
    ["ally", "al", 4],
    ["ly", "", 4],
  ];
  for (const [suf, rep, min] of rules) {
    if (s.endsWith(suf) && s.length - suf.length >= min) {
      s = s.slice(0, -suf.length) + rep;
      break;
    }
  }
  // -ing / -ed
  for (const suf of ["ing", "ed"]) {
    if (s.endsWith(suf) && s.length - suf.length >= 3 && VOWEL.test(s.slice(0, -suf.length))) {
      s = s.slice(0, -suf.length);
      if (/([^aeiouylsz])\1$/.test(s)) s = s.slice(0, -1);
      break;
    }
  }
  // -er (builder → build, parser → pars) only on longer words
  if (s.endsWith("er") && s.length >= 6) s = s.slice(0, -2);
  // final e: validate/validat, generate/generat
  if (s.endsWith("e") && s.length > 4) s = s.slice(0, -1);
  // y → i from four letters, so that "copy" meets "copied" and "copies", "easy" meets "easier".
  if (s.endsWith("y") && s.length > 3) s = s.slice(0, -1) + "i";
  return s;
}

export interface TokenizeOptions {
  /** Keep stop words (default false). */
  keepStopWords?: boolean;
  /** Apply the stemmer (default true). */
  stem?: boolean;
}

const stemCache = new Map<string, string>();
function cachedStem(w: string): string {
  let s = stemCache.get(w);
  if (s === undefined) {
    s = stem(w);
    if (stemCache.size > 200_000) stemCache.clear();
    stemCache.set(w, s);
  }
  return s;
}

/**
 * Raw lower-cased words (identifiers split), before stop words and stemming:
 * what the word-level knowledge reads (the pretrained word vectors, the tech
 * glossary). A camel-case word is also kept whole — "JavaScript" must meet
 * "javascript" (a repo name, a topic, a question typed in lower case), which
 * the word vectors know as one word, while "java" and "script" are an island
 * and a screenplay. Index terms (tokenize) keep only the parts, as does
 * `keepWhole` false (counting the words of a question).
 */
export function words(text: string, keepWhole = true): string[] {
  if (!text) return [];
  const out: string[] = [];
  const norm = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  // Keep a few symbol-bearing technology names whole.
  const prepared = norm
    .replace(/c\+\+/gi, " cpp ")
    .replace(/c#/gi, " csharp ")
    .replace(/f#/gi, " fsharp ")
    .replace(/\.net\b/gi, " dotnet ");
  for (const raw of prepared.split(/[^A-Za-z0-9]+/)) {
    if (!raw) continue;
    const parts = splitIdentifier(raw);
    if (parts.length > 1) {
      if (keepWhole && /^[A-Za-z]+$/.test(raw)) out.push(raw.toLowerCase());
      for (const p of parts) out.push(p.toLowerCase());
    } else out.push(raw.toLowerCase());
  }
  return out;
}

/** Text → index terms. */
export function tokenize(text: string, opts: TokenizeOptions = {}): string[] {
  const doStem = opts.stem ?? true;
  const out: string[] = [];
  for (const w of words(text, false)) {
    if (w.length > 40) continue;
    if (!opts.keepStopWords && STOP.has(w)) continue;
    if (w.length === 1 && !KEEP_SHORT.has(w)) continue;
    if (/^\d+$/.test(w) && w.length > 4) continue;
    out.push(doStem ? cachedStem(w) : w);
  }
  return out;
}
