/**
 * What every backend shares: the storage key and prefix rules, the content type, key order and byte helpers.
 * Its own module so the backends never import index.ts, which loads them (no import cycle).
 */
import { InvalidNameError } from "../errors.ts";

/** Segments starting with this are reserved for the local backend's temp and lock files. */
export const RESERVED_SEGMENT_PREFIX = ".~";

/**
 * Storage keys are relative, '/'-separated paths: no empty, '.' or '..'
 * segment, no leading '/', no backslash, no control character, no reserved
 * '.~' segment. Every backend enforces the same rule so that data can move
 * between them. Spaces and any other Unicode are allowed.
 */
export function validateKey(key: string): string {
  const bad = (why: string) => new InvalidNameError(`invalid storage key ${JSON.stringify(key)}: ${why}`);
  if (typeof key !== "string" || key.length === 0) throw bad("empty");
  if (key.length > 1024) throw bad("longer than 1024 characters");
  if (key.startsWith("/")) throw bad("absolute");
  if (key.includes("\\")) throw bad("backslash");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw bad("control character");
  if (/[\ud800-\udfff]/.test(key.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""))) throw bad("lone surrogate");
  for (const seg of key.split("/")) {
    if (seg === "") throw bad("empty segment");
    if (seg === "." || seg === "..") throw bad(`'${seg}' segment`);
    if (seg.startsWith(RESERVED_SEGMENT_PREFIX)) throw bad(`segment starts with reserved '${RESERVED_SEGMENT_PREFIX}'`);
  }
  return key;
}

/** A list prefix: "" or the start of a key; complete segments follow the key rules, the last may be partial. */
export function validatePrefix(prefix: string): string {
  const bad = (why: string) => new InvalidNameError(`invalid storage prefix ${JSON.stringify(prefix)}: ${why}`);
  if (typeof prefix !== "string") throw bad("not a string");
  if (prefix === "") return prefix;
  if (prefix.startsWith("/")) throw bad("absolute");
  if (prefix.includes("\\")) throw bad("backslash");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(prefix)) throw bad("control character");
  const segs = prefix.split("/");
  for (let i = 0; i < segs.length - 1; i++) {
    if (segs[i] === "" || segs[i] === "." || segs[i] === "..") throw bad(`'${segs[i]}' segment`);
  }
  if (segs[segs.length - 1] === "..") throw bad("'..' segment");
  return prefix;
}

/** application/json for .json keys, else application/octet-stream. */
export function defaultContentType(key: string): string {
  return key.toLowerCase().endsWith(".json") ? "application/json" : "application/octet-stream";
}

const encoder = new TextEncoder();
export function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** JS string order (UTF-16 code units), the same on every backend. */
export function sortKeys(keys: string[]): string[] {
  return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
