/**
 * Status webhook signatures. Every delivery carries
 *   X-Foliosync-Timestamp: <unix seconds>
 *   X-Foliosync-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" keyed by WEBHOOK_SIGNING_SECRET>
 * Signing the timestamp with the body lets a receiver refuse old deliveries
 * replayed later. Web Crypto only, so frontends (browsers, Deno, Bun, Node)
 * can import `verifyStatusWebhook` as is.
 */

export const HEADER_EVENT = "x-foliosync-event";
export const HEADER_DELIVERY = "x-foliosync-delivery";
export const HEADER_TIMESTAMP = "x-foliosync-timestamp";
export const HEADER_SIGNATURE = "x-foliosync-signature";

const enc = new TextEncoder();

async function hmacKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");

/** `sha256=<hex>` over `"{timestamp}.{body}"`. */
export async function signStatusWebhook(secret: string, timestamp: number, body: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), enc.encode(`${timestamp}.${body}`));
  return `sha256=${hex(mac)}`;
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
 * (constant time). `body` must be the raw body as received.
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
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = parseInt(m[1].slice(i * 2, i * 2 + 2), 16);
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  return await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, enc.encode(`${ts}.${text}`));
}
