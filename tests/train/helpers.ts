import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publishBundle } from "../../shared/bundle-store.ts";
import { contentFingerprint } from "../../shared/fingerprint.ts";
import { loadFixtureBundle } from "../../shared/ranking/fixture-bundle.ts";
import { makeWordVectors, type WordVectors } from "../../shared/ranking/word-vectors.ts";
import { rng } from "../../shared/ranking/hash.ts";
import type { Bundle, BundlePointer } from "../../shared/schemas/bundle.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { githubFixturesDir } from "../support/paths.ts";

/** A small real bundle: the first `n` yungryce repos (fast to train). */
export function smallBundle(n = 12): Bundle {
  const full = loadFixtureBundle(join(githubFixturesDir, "yungryce"));
  const repos = full.repos.slice(0, n);
  return { ...full, repos, content_fingerprint: contentFingerprint(repos) };
}

/** The same bundle with one repo's README changed (new content fingerprint). */
export function editedBundle(b: Bundle, extra: string): Bundle {
  const repos = b.repos.map((r, i) => (i === 0 ? { ...r, readme: r.readme + "\n\n" + extra } : r));
  const fp = contentFingerprint(repos);
  // A README change on GitHub also moves the repo's GitHub fingerprint: a new bundle version.
  return { ...b, repos, fingerprint: fp, content_fingerprint: fp, generated_at: new Date().toISOString() };
}

/**
 * Runs `fn` against a local store in a fresh temp dir with `bundle` already
 * published (as the refresh pipeline leaves it for training); the dir is
 * removed afterwards, whatever `fn` does.
 */
export async function withPublishedBundle<T>(
  bundle: Bundle,
  fn: (ctx: { store: LocalStore; pointer: BundlePointer; dir: string }) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "foliosync-train-"));
  try {
    const store = await LocalStore.open(dir);
    const { pointer } = await publishBundle(store, bundle);
    return await fn({ store, pointer, dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A tiny synthetic word-vector table (no package needed). */
export function tinyWordVectors(words: string[], dim = 8, seed = 5): WordVectors {
  const r = rng(seed);
  const data = new Int8Array(words.length * dim);
  for (let i = 0; i < words.length; i++) {
    let n = 0;
    const v = Array.from({ length: dim }, () => r() - 0.5);
    for (const x of v) n += x * x;
    n = Math.sqrt(n);
    v.forEach((x, j) => (data[i * dim + j] = Math.round((x / n) * 127)));
  }
  return makeWordVectors(words, data, dim);
}

export const FAST_FIT = { epochs: 3 };
