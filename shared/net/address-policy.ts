/**
 * Which addresses an outbound callback may reach. Only globally routable
 * unicast addresses pass: loopback, RFC 1918 private, CGNAT, link-local
 * (169.254.169.254, the cloud metadata service, included), multicast,
 * broadcast, unspecified, reserved and documentation ranges, IPv6 ULA and
 * link-local, and IPv6 forms that embed an IPv4 address (mapped, compatible,
 * NAT64, 6to4, Teredo) are refused. Spellings do not matter: URLs are parsed
 * by the WHATWG URL parser (which turns `2130706433`, `0x7f.1`, `0177.0.0.1`
 * and `127.1` into `127.0.0.1`) and addresses by ipaddr.js.
 *
 * `CALLBACK_ALLOW_HOSTS` (comma list of `host:port`) is the one exception: a
 * local receiver for development and tests.
 */
import ipaddr from "ipaddr.js";

export type Refusal = { ok: false; reason: string };

/** `host:port` entries, host lower-cased (IPv6 in brackets). Throws on a malformed entry. */
export function parseAllowHosts(value: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const raw of (value ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    let u: URL;
    try {
      u = new URL(`http://${raw}/`);
    } catch {
      throw new Error(`"${raw.slice(0, 80)}" is not host:port`);
    }
    if (!/:\d+$/.test(raw) || u.username || u.password) throw new Error(`"${raw.slice(0, 80)}" is not host:port`);
    out.add(`${u.hostname}:${u.port || "80"}`);
  }
  return out;
}

/** The `host:port` of a URL as CALLBACK_ALLOW_HOSTS lists it (default ports filled in). */
export function hostPortOf(u: URL): string {
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.hostname.toLowerCase()}:${port}`;
}

/** Why an IP address may not be reached, or null when it is a public unicast address. */
export function addressRefusal(address: string): string | null {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!ipaddr.isValid(bare)) return "not an IP address";
  let ip = ipaddr.parse(bare);
  if (ip.kind() === "ipv6") {
    const v6 = ip as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) ip = v6.toIPv4Address();
    else if (v6.parts.slice(0, 6).every((p) => p === 0)) return "an IPv4-compatible IPv6 address";
  }
  const range = ip.range();
  if (range === "unicast") return null;
  const names: Record<string, string> = {
    unspecified: "an unspecified address",
    broadcast: "a broadcast address",
    multicast: "a multicast address",
    linkLocal: "a link-local address",
    loopback: "a loopback address",
    carrierGradeNat: "a carrier-grade NAT address",
    private: "a private address",
    uniqueLocal: "a unique local address",
    ipv4Mapped: "an IPv4-mapped address",
    rfc6145: "an IPv4-translated address",
    rfc6052: "a NAT64 address",
    "6to4": "a 6to4 address",
    teredo: "a Teredo address",
  };
  return `${names[range] ?? `a reserved address (${range})`}`;
}

/** Is the host an IP literal (after WHATWG normalisation: dotted quad, or IPv6 in brackets)? */
export function isIpLiteral(hostname: string): boolean {
  if (hostname.startsWith("[")) return true;
  return ipaddr.IPv4.isValidFourPartDecimal(hostname);
}

/** Names that always mean this machine or its network, whatever DNS says. */
function isLocalName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost") || h.endsWith(".local") || h.endsWith(".internal") ||
    !h.includes(".");
}

export interface CallbackTarget {
  ok: true;
  url: URL;
  /** Listed in CALLBACK_ALLOW_HOSTS: internal addresses allowed. */
  allowlisted: boolean;
}

/**
 * The checks a callback URL passes when it is registered (at refresh): http(s),
 * no userinfo, no fragment, and — unless allow-listed — no IP literal or local
 * name that points inside. DNS is not consulted here; delivery checks the
 * resolved address again (a name may change its answer).
 */
export function checkCallbackUrl(raw: string, allowHosts: ReadonlySet<string>): CallbackTarget | Refusal {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "callback_url is not a URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, reason: "callback_url must be an http or https URL" };
  }
  if (url.username || url.password) {
    return { ok: false, reason: "callback_url must not contain a user name or password" };
  }
  if (!url.hostname) return { ok: false, reason: "callback_url has no host" };
  if (allowHosts.has(hostPortOf(url))) return { ok: true, url, allowlisted: true };
  if (isIpLiteral(url.hostname)) {
    const why = addressRefusal(url.hostname);
    if (why) return { ok: false, reason: `callback_url points to ${why}` };
  } else if (isLocalName(url.hostname)) {
    return { ok: false, reason: "callback_url names a local host" };
  }
  return { ok: true, url, allowlisted: false };
}

/** What a URL may appear as in logs, DLQ entries and errors: scheme and host only (no path, query or userinfo). */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "(invalid URL)";
  }
}
