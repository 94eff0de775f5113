/**
 * Status webhook signatures. Every delivery carries
 *   X-Foliosync-Timestamp: <unix seconds>
 *   X-Foliosync-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" keyed by WEBHOOK_SIGNING_SECRET>
 * Signing the timestamp with the body lets a receiver refuse old deliveries
 * replayed later. Web Crypto only, so frontends (browsers, Deno, Bun, Node)
 * can import `verifyStatusWebhook` as is.
 */

import { hmacSha256Hex, prefixed, verifyHmacSha256Hex } from "./hmac.ts";

export const HEADER_EVENT = "x-foliosync-event";
export const HEADER_DELIVERY = "x-foliosync-delivery";
export const HEADER_TIMESTAMP = "x-foliosync-timestamp";
export const HEADER_SIGNATURE = "x-foliosync-signature";

/** `sha256=<hex>` over `"{timestamp}.{body}"`. */
export async function signStatusWebhook(secret: string, timestamp: number, body: string): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, `${timestamp}.${body}`)}`;
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(h: HeaderSource, name: string): string | undefined {
  if (typeof (h as Headers).get === "function") return (h as Headers).get(name) ?? undefined;
  for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

/**
 * True when the delivery is signed with `secret` and its timestamp is within
 * `toleranceS` seconds of now. The MAC is checked by Web Crypto's verify
 * (constant time, hmac.ts). `body` must be the raw body as received.
 */
export async function verifyStatusWebhook(
  secret: string,
  headers: HeaderSource,
  body: string | Uint8Array,
  toleranceS = 300,
  nowS: number = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  const ts = header(headers, HEADER_TIMESTAMP)?.trim();
  const sig = header(headers, HEADER_SIGNATURE)?.trim();
  if (!ts || !sig || !/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(nowS - Number(ts)) > toleranceS) return false;
  const m = sig.match(/^sha256=([0-9a-fA-F]{64})$/);
  if (!m) return false;
  // Over the bytes as received: a body is never decoded and re-encoded before its MAC is checked.
  return await verifyHmacSha256Hex(secret, prefixed(`${ts}.`, body), m[1]);
}
