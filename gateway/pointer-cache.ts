/**
 * A short-lived cache of users' bundle pointers (`bundles/{u}/current.json`),
 * so that GET /api/bundles/{u} and 304 revalidations do not read storage on
 * every request. An entry lives `ttlMs` (default 1 s: the same bound the AI
 * service revalidates with) and is dropped as soon as a job of the user
 * reaches a final state — seen on this instance's event streams, or on the
 * all-jobs feed (every instance) — because the merge swaps the pointer
 * before the job is marked completed. So a client that saw `completed` gets
 * the new bundle; anything else sees a pointer at most ttlMs old.
 * That promise needs the feed: while its connection is down (`live` false)
 * the cache is bypassed, and it is emptied when the connection drops, since
 * the invalidations of that time are never seen.
 * Concurrent misses for one user share one storage read.
 */
import { readPointer } from "../shared/bundle-store.ts";
import { userKey } from "../shared/keys.ts";
import type { BundlePointer } from "../shared/schemas/bundle.ts";
import type { BlobStore } from "../shared/storage/types.ts";

interface Entry {
  pointer: BundlePointer | null;
  at: number;
  gen: number;
}

export class PointerCache {
  private entries = new Map<string, Entry>();
  private loading = new Map<string, Promise<BundlePointer | null>>();
  private gen = 0;
  constructor(
    private store: BlobStore,
    private ttlMs = 1000,
    private maxEntries = 10_000,
    /** Whether invalidations are being seen right now (JobFeed.live). */
    private live: () => boolean = () => true,
  ) {}

  async get(username: string): Promise<BundlePointer | null> {
    if (this.ttlMs <= 0 || !this.live()) return (await readPointer(this.store, username))?.pointer ?? null;
    const key = userKey(username);
    const e = this.entries.get(key);
    if (e && performance.now() - e.at < this.ttlMs) return e.pointer;
    const pending = this.loading.get(key);
    if (pending) return pending;
    const gen = this.gen;
    const p = readPointer(this.store, username)
      .then((r) => {
        const pointer = r?.pointer ?? null;
        // Not stored if an invalidation happened while reading (a drop of the feed counts as one).
        if (gen === this.gen) {
          if (this.entries.size >= this.maxEntries) {
            const first = this.entries.keys().next().value;
            if (first !== undefined) this.entries.delete(first);
          }
          this.entries.set(key, { pointer, at: performance.now(), gen });
        }
        return pointer;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  invalidate(username: string) {
    let key: string;
    try {
      key = userKey(username);
    } catch {
      return;
    }
    this.gen++;
    this.entries.delete(key);
    this.loading.delete(key);
  }

  /** Drops every entry (the feed's connection dropped: invalidations were missed). */
  clear() {
    this.gen++;
    this.entries.clear();
    this.loading.clear();
  }
}
