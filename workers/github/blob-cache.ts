/**
 * File contents fetched over GraphQL, kept in Redis by git object id between
 * plan (which fetches them in batches) and sync (which builds the records):
 * content-addressed, so the same id is the same text for every repo and job.
 */

/** How long fetched contents wait for their sync jobs. */
export const BLOB_TTL_S = 3600;

/** The key of one file's text (cut to `maxBytes`, so the limit is part of the key). */
export function blobKey(prefix: string, maxBytes: number, oid: string): string {
  return `${prefix}:github:blob:${maxBytes}:${oid}`;
}

/**
 * A fetched text as stored: "1" (cut) or "0", then the text itself — no JSON
 * escaping of hundreds of kilobytes on the way in and out.
 */
export function encodeBlob(b: { text: string; truncated: boolean }): string {
  return (b.truncated ? "1" : "0") + b.text;
}

/** The stored text back; null when the value is not one encodeBlob wrote (an older worker's JSON): fetched again. */
export function decodeBlob(v: string): { text: string; truncated: boolean } | null {
  const flag = v.charCodeAt(0);
  if (flag !== 48 && flag !== 49) return null;
  return { text: v.slice(1), truncated: flag === 49 };
}

/** The field of the user's ETag hash that holds the id a repo's file had when it was last synced. */
export function oidField(repo: string, label: string): string {
  return `${repo}:oid:${label}`;
}
