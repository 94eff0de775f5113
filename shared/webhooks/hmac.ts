/**
 * HMAC-SHA256 as lower-case hex, for both webhook directions: status
 * webhooks foliosync signs (signature.ts) and GitHub pushes it verifies
 * (gateway/routes/webhooks.ts). Web Crypto only, so browsers, Deno, Bun and
 * Node can import it. Verification goes through `crypto.subtle.verify`,
 * which compares MACs in constant time; callers never compare hex strings.
 */

const enc = new TextEncoder();

/** The bytes a MAC covers: a string as UTF-8, bytes as they are. */
export type MacInput = string | Uint8Array;

const bytesOf = (data: MacInput): Uint8Array => (typeof data === "string" ? enc.encode(data) : data);

async function hmacKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

/** Hex HMAC-SHA256 of `data` keyed by `secret` (64 lower-case hex digits). */
export async function hmacSha256Hex(secret: string, data: MacInput): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), bytesOf(data) as BufferSource);
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const HEX_MAC_RE = /^[0-9a-fA-F]{64}$/;

/**
 * True when `hex` (64 hex digits, either case) is the HMAC-SHA256 of `data`
 * keyed by `secret`. Malformed input is false; the MAC itself is checked by
 * Web Crypto's verify (constant time).
 */
export async function verifyHmacSha256Hex(secret: string, data: MacInput, hex: string): Promise<boolean> {
  if (!HEX_MAC_RE.test(hex)) return false;
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, bytesOf(data) as BufferSource);
}

/** `data` prefixed by `prefix` (UTF-8), without decoding `data`: a MAC covers the raw bytes received. */
export function prefixed(prefix: string, data: MacInput): MacInput {
  if (typeof data === "string") return prefix + data;
  const head = enc.encode(prefix);
  const out = new Uint8Array(head.length + data.length);
  out.set(head, 0);
  out.set(data, head.length);
  return out;
}
