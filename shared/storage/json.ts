import { NonRetriableError } from "../errors.ts";
import type { BlobStore, PutOptions } from "./types.ts";

/** Anything with zod's parse(): a zod schema, or a hand-written validator. */
export interface Parser<T> {
  parse(data: unknown): T;
}

/** A stored object that is not the JSON it should be: retrying cannot help. */
export class StoredJsonError extends NonRetriableError {
  override name = "StoredJsonError";
}

const decoder = new TextDecoder();

/**
 * Reads a JSON object. null when the key is missing. With a schema the value
 * is validated (and transformed) by it; bad JSON or a schema mismatch throws
 * StoredJsonError naming the key.
 */
export async function getJson<T = unknown>(
  store: BlobStore,
  key: string,
  schema?: Parser<T>,
): Promise<{ value: T; version: string } | null> {
  const obj = await store.get(key);
  if (!obj) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(obj.data));
  } catch (err) {
    throw new StoredJsonError(`${key} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!schema) return { value: raw as T, version: obj.version };
  try {
    return { value: schema.parse(raw), version: obj.version };
  } catch (err) {
    throw new StoredJsonError(`${key} does not match its schema: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes a value as JSON (application/json), with the same preconditions as put(). */
export function putJson(
  store: BlobStore,
  key: string,
  value: unknown,
  opts: PutOptions = {},
): Promise<{ version: string }> {
  const text = JSON.stringify(value);
  if (text === undefined) throw new NonRetriableError(`cannot store ${typeof value} as JSON at ${key}`);
  return store.put(key, text, { contentType: "application/json", ...opts });
}
