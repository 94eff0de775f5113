import { LimitExceededError, PreconditionFailedError } from "./errors.ts";
import { storageKeys } from "./keys.ts";
import { Bundle, BundlePointer } from "./schemas/bundle.ts";
import type { RepoRecord } from "./schemas/repo.ts";
import { getJson } from "./storage/json.ts";
import type { BlobStore } from "./storage/types.ts";

const enc = new TextEncoder();

export interface CurrentBundle {
  pointer: BundlePointer;
  /** Version of the pointer object (changes on every publish). */
  pointerVersion: string;
  bundle: Bundle;
}

/** The user's current pointer, or null before the first bundle; a malformed one throws StoredJsonError. */
export async function readPointer(
  store: BlobStore,
  username: string,
): Promise<{ pointer: BundlePointer; version: string } | null> {
  const got = await getJson(store, storageKeys.bundleCurrent(username), BundlePointer);
  return got && { pointer: got.value, version: got.version };
}

/** Follows `current.json` to the immutable bundle it names; null before the first bundle. */
export async function readCurrentBundle(store: BlobStore, username: string): Promise<CurrentBundle | null> {
  const p = await readPointer(store, username);
  if (!p) return null;
  const got = await getJson(store, p.pointer.key, Bundle);
  if (!got) throw new Error(`bundle pointer of ${username} names a missing object ${p.pointer.key}`);
  return { pointer: p.pointer, pointerVersion: p.version, bundle: got.value };
}

/** A bundle over the size limit: never published (the current one stays). */
export class BundleTooLargeError extends LimitExceededError {
  override name = "BundleTooLargeError";
  constructor(readonly bytes: number, readonly maxBytes: number, repos: number) {
    super(`bundle of ${repos} repos is ${bytes} bytes, over the limit of ${maxBytes} bytes (MAX_BUNDLE_BYTES)`);
  }
}

/** Whether the user's current bundle was built from exactly these GitHub fields (pointers without the field: their fingerprint). */
export function pointerMatchesGithub(pointer: BundlePointer, githubFingerprint: string): boolean {
  return (pointer.github_fingerprint ?? pointer.fingerprint) === githubFingerprint;
}

/**
 * Publishes a bundle: writes it as a new immutable object (create-only; the
 * same fingerprint means the same content, so an existing one is reused),
 * then swaps `current.json` with a conditional write against the version it
 * read. Readers see the old bundle or the new one, never a mix. A racing
 * publisher that swapped first wins when its bundle is newer; the loser
 * re-reads and retries, and never replaces a newer bundle with an older one.
 */
export async function publishBundle(
  store: BlobStore,
  bundle: Bundle,
  opts: {
    maxBytes?: number;
    /** The pointer as the caller just read it (null: none yet): the first swap is tried against it, unread again. */
    current?: { pointer: BundlePointer; version: string } | null;
  } = {},
): Promise<{ pointer: BundlePointer; published: boolean }> {
  const key = storageKeys.bundle(bundle.username, bundle.fingerprint);
  const data = enc.encode(JSON.stringify(bundle));
  if (opts.maxBytes !== undefined && data.byteLength > opts.maxBytes) {
    throw new BundleTooLargeError(data.byteLength, opts.maxBytes, bundle.repos.length);
  }
  try {
    await store.put(key, data, { ifAbsent: true, contentType: "application/json" });
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
  const pointer: BundlePointer = {
    username: bundle.username,
    fingerprint: bundle.fingerprint,
    ...(bundle.github_fingerprint ? { github_fingerprint: bundle.github_fingerprint } : {}),
    content_fingerprint: bundle.content_fingerprint,
    key,
    generated_at: bundle.generated_at,
    repo_count: bundle.repos.length,
    documented_count: bundle.repos.filter((r: RepoRecord) => r.has_documentation).length,
  };
  for (let attempt = 0; attempt < 10; attempt++) {
    // A stale pointer read costs one failed conditional write, then a fresh read.
    const current = attempt === 0 && opts.current !== undefined
      ? opts.current
      : await readPointer(store, bundle.username);
    if (current && current.pointer.fingerprint === bundle.fingerprint) {
      return { pointer: current.pointer, published: false };
    }
    if (current && current.pointer.generated_at > bundle.generated_at) {
      return { pointer: current.pointer, published: false };
    }
    try {
      await store.put(storageKeys.bundleCurrent(bundle.username), enc.encode(JSON.stringify(pointer)), {
        ...(current ? { ifVersion: current.version } : { ifAbsent: true }),
        contentType: "application/json",
      });
      return { pointer, published: true };
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
    }
  }
  throw new Error(`could not publish bundle for ${bundle.username}: current.json kept changing`);
}
