/**
 * POSTs to a callback URL without letting it reach inside: the host is
 * resolved once, every address it resolves to is checked
 * (address-policy.ts), and the connection goes to the checked address — no
 * second lookup, so a name that answers differently the next time (DNS
 * rebinding) cannot slip past. HTTPS keeps the host name for SNI and
 * certificate checks. Redirects are never followed: a 3xx is a failed
 * delivery. `fetch` cannot pin an address in every runtime, so this speaks
 * the small part of HTTP/1.1 a webhook needs (one request, the status line,
 * `Connection: close`) over node:net / node:tls.
 */
import { lookup } from "node:dns/promises";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { addressRefusal, checkCallbackUrl, isIpLiteral, redactUrl } from "./address-policy.ts";

export class DeliveryRefused extends Error {
  override name = "DeliveryRefused";
}

export interface PinnedPostOptions {
  allowHosts: ReadonlySet<string>;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Name resolution (default node:dns lookup, all addresses). */
  resolve?: (host: string) => Promise<string[]>;
}

export interface PinnedPostResult {
  status: number;
  /** The address connected to. */
  address: string;
}

const defaultResolve = async (host: string) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Resolves and checks the target; throws DeliveryRefused (never retried: the
 * same URL would be refused again) when it may not be reached.
 */
export async function resolveTarget(
  raw: string,
  allowHosts: ReadonlySet<string>,
  resolve = defaultResolve,
): Promise<{ url: URL; address: string }> {
  const target = checkCallbackUrl(raw, allowHosts);
  if (!target.ok) throw new DeliveryRefused(target.reason);
  const { url, allowlisted } = target;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (isIpLiteral(url.hostname)) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      // Not refused: a name that does not resolve now may later (retried as a failed delivery).
      throw new Error(`could not resolve ${redactUrl(raw)}`);
    }
  }
  if (addresses.length === 0) throw new Error(`could not resolve ${redactUrl(raw)}`);
  if (!allowlisted) {
    for (const a of addresses) {
      const why = addressRefusal(a);
      if (why) throw new DeliveryRefused(`${redactUrl(raw)} resolves to ${why}`);
    }
  }
  return { url, address: addresses[0] };
}

/** One POST to the checked address; resolves with the status code (any), rejects on network faults and timeouts. */
export async function pinnedPost(raw: string, opts: PinnedPostOptions): Promise<PinnedPostResult> {
  const { url, address } = await resolveTarget(raw, opts.allowHosts, opts.resolve);
  const https = url.protocol === "https:";
  const port = Number(url.port || (https ? 443 : 80));
  const body = new TextEncoder().encode(opts.body);
  const lines = [
    `POST ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    `Content-Length: ${body.byteLength}`,
    "Connection: close",
  ];
  for (const [k, v] of Object.entries(opts.headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new DeliveryRefused("header with a line break");
    lines.push(`${k}: ${v}`);
  }
  const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");

  return await new Promise<PinnedPostResult>((resolve, reject) => {
    let done = false;
    let buf = "";
    const finish = (err: Error | null, status?: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve({ status: status!, address });
    };
    const socket: Socket = https
      ? tlsConnect({ host: address, port, servername: isIpLiteral(url.hostname) ? undefined : url.hostname })
      : netConnect({ host: address, port });
    const timer = setTimeout(
      () => finish(new Error(`${redactUrl(raw)} did not answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    socket.once(https ? "secureConnect" : "connect", () => {
      socket.write(head);
      socket.write(body);
    });
    socket.on("data", (chunk: Uint8Array) => {
      buf += new TextDecoder().decode(chunk);
      const eol = buf.indexOf("\r\n");
      if (eol >= 0) {
        const m = buf.slice(0, eol).match(/^HTTP\/1\.[01] (\d{3})/);
        finish(m ? null : new Error(`${redactUrl(raw)} did not answer HTTP`), m ? Number(m[1]) : undefined);
      } else if (buf.length > 8192) finish(new Error(`${redactUrl(raw)} did not answer HTTP`));
    });
    socket.on("error", () => finish(new Error(`could not reach ${redactUrl(raw)}`)));
    socket.on("close", () => finish(new Error(`${redactUrl(raw)} closed the connection without an answer`)));
  });
}
